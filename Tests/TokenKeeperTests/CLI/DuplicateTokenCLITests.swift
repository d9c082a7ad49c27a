import Foundation
import Testing
import TokenKeeperTesting

/// A token value is stored once: a second record would be refreshed apart from the first, and the
/// customer's app handed two different tokens for one signup.
@Suite struct DuplicateTokenCLITests {
    private static func line(_ token: String, project: String = "p1") -> String {
        #"{"project":"\#(project)","token":"\#(token)"}"#
    }

    @Test(arguments: TestBackend.all)
    func addingAStoredTokenAgainExits65AndNamesTheRecord(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let token = CLISecret.make()
        let id = try await sandbox.add(token)
        let again = try await sandbox.run("add", "--project", "p2", stdin: token + "\n")
        #expect(again.status == 65)
        #expect(again.stderr.contains("already stored as \(id)"), "\(again.stderr)")
        #expect(!again.everything.contains(token))
        #expect(try await sandbox.listedIDs() == [id])
        #expect(try await sandbox.auditJSON("--event", "added").count == 1)
    }

    @Test(arguments: TestBackend.all)
    func replaceKeepsWorkingButNotWithAnotherRecordsToken(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let (first, second) = (CLISecret.make(), CLISecret.make())
        let firstID = try await sandbox.add(first)
        let secondID = try await sandbox.add(second)
        // A new value, and the record's own value again, are both fine.
        try await sandbox.succeed("add", "--replace", firstID, stdin: CLISecret.make() + "\n")
        let renewed = CLISecret.make()
        try await sandbox.succeed("add", "--replace", secondID, stdin: renewed + "\n")
        try await sandbox.succeed("add", "--replace", secondID, stdin: renewed + "\n")
        let taken = try await sandbox.run("add", "--replace", firstID, stdin: renewed + "\n")
        #expect(taken.status == 65)
        #expect(taken.stderr.contains("already stored as \(secondID)"), "\(taken.stderr)")
        #expect(try await sandbox.succeed("get", secondID).stdout == renewed + "\n")
    }

    @Test(arguments: TestBackend.all)
    func importingAStoredTokenImportsNothingAndNamesTheLine(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let stored = CLISecret.make()
        let id = try await sandbox.add(stored)
        let file = sandbox.directory.file("again.jsonl")
        try CLIFiles.write(
            [Self.line(CLISecret.make()), Self.line(stored), Self.line(CLISecret.make())].joined(separator: "\n"),
            to: file
        )
        let result = try await sandbox.run("import", file)
        #expect(result.status == 65)
        #expect(result.stderr.contains("line 2: this token is already stored as \(id)"), "\(result.stderr)")
        #expect(result.stderr.contains("nothing was imported"))
        #expect(!result.everything.contains(stored))
        #expect(try await sandbox.listedIDs() == [id])

        // Re-running an import with --skip-existing adds only what is new, and says so.
        let skipping = try await sandbox.succeed("import", file, "--skip-existing", "--json")
        #expect(try CLIJSON.parse(skipping.stdout) == .object(["imported": .integer(2), "skipped": .integer(1)]))
        let rerun = try await sandbox.succeed("import", file, "--skip-existing")
        #expect(rerun.stdout == "imported 0 tokens, skipped 3 already stored\n")
        #expect(try await sandbox.listedIDs().count == 3)
    }

    @Test(arguments: TestBackend.all)
    func aTokenTwiceInOneFileIsRefusedAtItsSecondLine(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let token = CLISecret.make()
        let file = sandbox.directory.file("twice.jsonl")
        try CLIFiles.write(
            [Self.line(token), Self.line(CLISecret.make()), Self.line(token, project: "p2")].joined(separator: "\n"),
            to: file
        )
        let result = try await sandbox.run("import", file)
        #expect(result.status == 65)
        #expect(result.stderr.contains("line 3: the same token as line 1"), "\(result.stderr)")
        #expect(try await sandbox.listedIDs().isEmpty)
        #expect(
            try CLIJSON.parse(try await sandbox.succeed("import", file, "--skip-existing", "--json").stdout)["skipped"]
                == .integer(1)
        )
    }
}
