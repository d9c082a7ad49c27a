import Foundation
import Testing
import TokenKeeperTesting

/// Input is bounded where it is read: record details, key files, JSON lines.
@Suite struct InputBoundsCLITests {
    @Test(arguments: [
        (["--label", String(repeating: "L", count: 257)], "the label is longer than 256 bytes"),
        (["--waba", String(repeating: "1", count: 65)], "the waba is longer than 64 bytes"),
    ])
    func overlongDetailsAreRefused(extra: [String], message: String) async throws {
        let sandbox = try await CLISandbox()
        let result = try await sandbox.cli.run(["add", "--project", "p1"] + extra, stdin: CLISecret.make() + "\n")
        #expect(result.status == 65)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(try await sandbox.listedIDs().isEmpty)
    }

    @Test func anOverlongProjectIsRefusedInAddAndImport() async throws {
        let sandbox = try await CLISandbox()
        let project = String(repeating: "p", count: 129)
        let added = try await sandbox.cli.run(["add", "--project", project], stdin: CLISecret.make() + "\n")
        #expect(added.status == 65)
        #expect(added.stderr.contains("the project id is longer than 128 bytes"), "\(added.stderr)")
        let file = sandbox.directory.file("long.jsonl")
        try CLIFiles.write(
            #"{"project":"p1","token":"\#(CLISecret.make())"}"# + "\n"
                + #"{"project":"\#(project)","token":"\#(CLISecret.make())"}"# + "\n",
            to: file
        )
        let imported = try await sandbox.run("import", file)
        #expect(imported.status == 65)
        #expect(imported.stderr.contains("line 2: the project id is longer than 128 bytes"), "\(imported.stderr)")
        // Exactly at the limit is fine.
        try await sandbox.succeed("add", "--project", String(project.dropLast()), stdin: CLISecret.make() + "\n")
    }

    @Test(arguments: [
        #"{"project":"p1","token":"EAAfirst0001","token":"EAAsecond0002"}"#,
        #"{"project":"p1","token":"EAAfirst0001","\u0074oken":"EAAsecond0002"}"#,
    ])
    func aFieldGivenTwiceRefusesTheLine(line: String) async throws {
        let sandbox = try await CLISandbox()
        let file = sandbox.directory.file("twice.jsonl")
        try CLIFiles.write(line + "\n", to: file)
        let result = try await sandbox.run("import", file)
        #expect(result.status == 65)
        #expect(result.stderr.contains(#"line 1: field "token" is given twice"#), "\(result.stderr)")
        #expect(!result.stderr.contains("EAAfirst") && !result.stderr.contains("EAAsecond"))
        #expect(try await sandbox.listedIDs().isEmpty)
    }

    @Test func aHugeKeyFileIsRefusedWithoutBeingRead() async throws {
        var sandbox = try await CLISandbox()
        let path = sandbox.directory.file("huge.key")
        // 100 MB, sparse: it costs no disk, and reading it whole cost 419 MB of memory.
        let descriptor = open(path, O_WRONLY | O_CREAT, 0o600)
        #expect(ftruncate(descriptor, 100_000_000) == 0)
        close(descriptor)
        sandbox.cli.environment["TOKENKEEPER_MASTER_KEY_FILE"] = path
        let result = try await sandbox.run("add", "--project", "p1", stdin: CLISecret.make() + "\n")
        #expect(result.status == 64)
        #expect(result.stderr.contains("is not a master key file: it is larger than 65536 bytes"), "\(result.stderr)")
    }

    @Test func aTokenUsedAsAFieldNameIsNotQuotedBack() async throws {
        let sandbox = try await CLISandbox()
        let token = CLISecret.make()
        let file = sandbox.directory.file("key.jsonl")
        try CLIFiles.write(#"{"project":"p1","\#(token)":"x"}"# + "\n", to: file)
        let result = try await sandbox.run("import", file)
        #expect(result.status == 65)
        #expect(result.stderr.contains("line 1: unknown field (a name no field has)"), "\(result.stderr)")
        #expect(!result.everything.contains(token))
    }

    /// A token lives one lifetime from its issue: an expiry past that (a typo for the year) would
    /// never be refreshed while the real token dies.
    @Test(arguments: TestBackend.all)
    func anExpiryMoreThanALifetimeAheadIsRefused(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let added = try await sandbox.cli.run(
            ["add", "--project", "p1", "--expires-at", "2999-01-01T00:00:00Z"],
            stdin: CLISecret.make() + "\n"
        )
        #expect(added.status == 65)
        #expect(
            added.stderr.contains(
                "expires_at 2999-01-01T00:00:00Z is more than a lifetime ahead (policy.lifetime 60d)"
            ),
            "\(added.stderr)"
        )
        let file = sandbox.directory.file("far.jsonl")
        try CLIFiles.write(
            #"{"project":"p1","token":"\#(CLISecret.make())"}"# + "\n"
                + #"{"project":"p1","token":"\#(CLISecret.make())","expires_at":"9999-12-31T23:59:59Z"}"# + "\n",
            to: file
        )
        let imported = try await sandbox.run("import", file)
        #expect(imported.status == 65)
        #expect(
            imported.stderr.contains("line 2: expires_at 9999-12-31T23:59:59Z is more than a lifetime ahead"),
            "\(imported.stderr)"
        )
        #expect(try await sandbox.listedIDs().isEmpty)
        // Up to a lifetime ahead is a token just issued.
        try await sandbox.succeed(
            "add",
            "--project",
            "p1",
            "--expires-at",
            CLITime.format(CLITime.days(60)),
            stdin: CLISecret.make() + "\n"
        )
    }

    /// Opening a FIFO for reading waits for a writer: every keyed command hung on one (a hang
    /// here ends at `timeout`'s 20 s, exit 124, rather than holding the test run).
    @Test(arguments: ["fifo", "folder"])
    func aKeyFileThatIsNotARegularFileIsRefusedAtOnce(kind: String) async throws {
        var sandbox = try await CLISandbox()
        sandbox.cli.launcher = ["/usr/bin/timeout", "-s", "KILL", "20"]
        let path = sandbox.directory.file("not-a-file.key")
        if kind == "fifo" {
            #expect(mkfifo(path, 0o600) == 0)
        } else {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        }
        sandbox.cli.environment["TOKENKEEPER_MASTER_KEY_FILE"] = path
        for arguments in [["add", "--project", "p1"], ["get", "tk_000000000000"]] {
            let result = try await sandbox.cli.run(arguments, stdin: CLISecret.make() + "\n")
            #expect(result.status == 64, "\(arguments): \(result.stderr)")
            #expect(
                result.stderr.contains("\(path) is not a master key file: it is not a regular file"),
                "\(result.stderr)"
            )
        }
    }
}
