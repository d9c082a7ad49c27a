import Foundation
import Testing
import TokenKeeperTesting

/// `tokenkeeper copy --to`: every token and the whole audit chain into an empty store, either
/// backend, either direction (<doc:CLIContract#copy>).
@Suite struct CopyCLITests {
    /// Every (source, target) pair this run can reach.
    static var pairs: [(TestBackend, TestBackend)] {
        TestBackend.all.flatMap { from in TestBackend.all.map { (from, $0) } }
    }

    /// A sandbox with history: tokens added, revealed, replaced, removed, one failed refresh
    /// state and a label; the secrets it holds by id.
    private func sandboxWithHistory(_ backend: TestBackend) async throws -> (CLISandbox, [String: String]) {
        let sandbox = try await CLISandbox(backend: backend)
        var secrets: [String: String] = [:]
        for project in ["p1", "p2", "p2"] {
            let secret = CLISecret.make()
            secrets[try await sandbox.add(secret, project: project, "--label", "shop \(project)")] = secret
        }
        let first = try #require(secrets.keys.sorted().first)
        try await sandbox.succeed("get", first)
        let replacement = CLISecret.make()
        try await sandbox.succeed("add", "--replace", first, stdin: replacement + "\n")
        secrets[first] = replacement
        return (sandbox, secrets)
    }

    /// A sandbox with the same key file as `source`, pointed at a new, empty store of `backend`.
    private func emptyTarget(_ backend: TestBackend, keyFrom source: CLISandbox) throws -> CLISandbox {
        var target = CLISandbox(uninitializedWith: ["TOKENKEEPER_MASTER_KEY_FILE": source.keyFilePath])
        if backend == .postgres { try target.usePostgres() }
        return target
    }

    /// `copy` from `source` into `target`'s store (the target's password in PGPASSWORD).
    private func copy(_ source: CLISandbox, into target: CLISandbox, _ extra: String...) async throws -> CLI.Result {
        var cli = source.cli
        if target.backend == .postgres, source.backend != .postgres {
            cli.environment["PGPASSWORD"] = target.cli.environment["PGPASSWORD"]
        }
        return try await cli.run(["copy", "--to", target.databaseLocation] + extra)
    }

    @Test(arguments: pairs)
    func aCopyListsAndAuditsAsItsSourceAndOpensEveryToken(_ from: TestBackend, _ to: TestBackend) async throws {
        let (source, secrets) = try await sandboxWithHistory(from)
        let target = try emptyTarget(to, keyFrom: source)

        let result = try await copy(source, into: target)

        #expect(result.status == 0, "copy: \(result.stderr)")
        let head = try #require(try await source.auditJSON().last?["hash"]?.string)
        #expect(
            result.stdout
                == "copied 3 tokens and 5 audit events from \(source.databaseLocation) to \(target.databaseLocation); "
                + "its audit chain verifies (head \(head))\n"
        )
        #expect(try await target.succeed("list", "--json").stdout == source.succeed("list", "--json").stdout)
        #expect(try await target.succeed("audit", "--json").stdout == source.succeed("audit", "--json").stdout)
        #expect(try await target.succeed("audit", "verify").stdout == source.succeed("audit", "verify").stdout)
        for (id, secret) in secrets {
            #expect(try await target.succeed("get", id).stdout == secret + "\n", "\(id) opens in the copy")
        }
    }

    @Test func sqliteToPostgresAndBackGivesTheSameStore() async throws {
        guard TestBackend.all.contains(.postgres) else { return }
        let (original, _) = try await sandboxWithHistory(.sqlite)
        let server = try emptyTarget(.postgres, keyFrom: original)
        try #require(try await copy(original, into: server).status == 0)
        let back = try emptyTarget(.sqlite, keyFrom: original)
        let result = try await copy(server, into: back, "--json")

        #expect(result.status == 0, "copy back: \(result.stderr)")
        let summary = try CLIJSON.parse(result.stdout)
        #expect(summary["tokens"] == .integer(3))
        #expect(summary["audit_events"] == .integer(5))
        #expect(summary["target"] == .string(back.databaseLocation))
        #expect(summary["audit_head"] == (try await original.auditJSON().last?["hash"]))
        #expect(try await back.succeed("list", "--json").stdout == original.succeed("list", "--json").stdout)
        #expect(try await back.succeed("audit", "--json").stdout == original.succeed("audit", "--json").stdout)
        // Row for row, under the seam: every column of every token and audit row.
        let tokens = "SELECT * FROM tokens ORDER BY id"
        let audit = "SELECT * FROM audit ORDER BY seq"
        #expect(try await back.sqlite(tokens) == original.sqlite(tokens))
        #expect(try await back.sqlite(audit) == original.sqlite(audit))
    }

    @Test(arguments: TestBackend.all)
    func leasesStayBehind(_ backend: TestBackend) async throws {
        let source = try await CLISandbox(backend: backend)
        let id = try await source.add(CLISecret.make())
        try await source.underTheSeam(
            "UPDATE tokens SET lease_owner = 'other-host:1:abc', lease_until = 4102444800 WHERE id = '\(id)'"
        )
        let target = try emptyTarget(.sqlite, keyFrom: source)

        try #require(try await copy(source, into: target).status == 0)

        #expect(try await target.sqlite("SELECT lease_owner IS NULL, lease_until IS NULL FROM tokens") == "1|1\n")
        #expect(try await source.underTheSeam("SELECT lease_owner FROM tokens") == "other-host:1:abc\n")
    }

    @Test(arguments: pairs)
    func aTargetThatHoldsTokensIsRefusedAndKeepsThem(_ from: TestBackend, _ to: TestBackend) async throws {
        let (source, _) = try await sandboxWithHistory(from)
        var target = try emptyTarget(to, keyFrom: source)
        target.cli.environment["TOKENKEEPER_MASTER_KEY_FILE"] = nil
        try await target.initialize()
        let kept = try await target.add(CLISecret.make())
        let before = try await target.succeed("audit", "--json").stdout

        let result = try await copy(source, into: target)

        #expect(result.status == 65)
        #expect(
            result.stderr
                == "tokenkeeper: error: \(target.databaseLocation) already holds 1 token and 1 audit event; "
                + "copy writes only into an empty store; nothing was copied\n"
        )
        #expect(try await target.listedIDs() == [kept])
        #expect(try await target.succeed("audit", "--json").stdout == before)
    }

    @Test func anEmptyTargetBoundToAnotherKeyIsRefused() async throws {
        let (source, _) = try await sandboxWithHistory(.sqlite)
        var target = CLISandbox(uninitializedWith: [:])
        // A key file of its own: `init` makes a new key (the shared template has the source's).
        target.cli.environment["TOKENKEEPER_MASTER_KEY_FILE"] = target.directory.file("other.key")
        try await target.initialize()

        let result = try await copy(source, into: target)

        #expect(result.status == 74)
        #expect(
            result.stderr.contains("is bound to another master key than \(source.databaseLocation); nothing was copied")
        )
        #expect(try await target.sqlite("SELECT COUNT(*) FROM tokens") == "0\n")
        #expect(try await target.sqlite("SELECT COUNT(*) FROM audit") == "0\n")
    }

    @Test func aPasswordInTheTargetURLIsRefusedBeforeAnythingOpens() async throws {
        let source = try await CLISandbox()
        let result = try await source.run("copy", "--to", "postgres://tk:hunter2@127.0.0.1:1/tk")

        #expect(result.status == 64)
        #expect(result.stderr.hasPrefix("tokenkeeper: error: --to must not carry a password"))
        #expect(!result.stderr.contains("hunter2"))
    }

    @Test func copyingAStoreOntoItselfIsRefused() async throws {
        let source = try await CLISandbox()
        try await source.add(CLISecret.make())

        let result = try await source.run("copy", "--to", source.databasePath)

        #expect(result.status == 64)
        #expect(result.stderr == "tokenkeeper: error: --to names the store being copied (\(source.databasePath))\n")
        #expect(try await source.listedIDs().count == 1)
    }
}
