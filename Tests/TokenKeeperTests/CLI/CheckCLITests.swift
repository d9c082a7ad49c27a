import Foundation
import Testing
import TokenKeeperTesting

/// `tokenkeeper check`: OK 0, WARNING 1, CRITICAL 2, UNKNOWN 3, for monitoring systems.
@Suite struct CheckCLITests {
    @discardableResult
    private func addExpiring(_ sandbox: CLISandbox, inDays days: Double) async throws -> String {
        try await sandbox.add(CLISecret.make(), project: "p1", "--expires-at", CLITime.format(CLITime.days(days)))
    }

    /// "1 token", "1 expires": counts agree with their nouns and verbs; `--warn` takes weeks.
    @Test func countsAgreeWithTheirWords() async throws {
        let sandbox = try await CLISandbox()
        try await sandbox.add(CLISecret.make())
        let one = try await sandbox.run("check", "--warn", "2w")
        #expect(one.stdout.hasPrefix("TOKENKEEPER OK - 1 token, none expires within 14d | total=1 "), "\(one.stdout)")

        try await addExpiring(sandbox, inDays: 2)
        let critical = try await sandbox.run("check")
        #expect(
            critical.stdout.hasPrefix("TOKENKEEPER CRITICAL - 1 expires within 3d (of 2 tokens)"),
            "\(critical.stdout)"
        )
        try await addExpiring(sandbox, inDays: 2)
        let two = try await sandbox.run("check")
        #expect(two.stdout.hasPrefix("TOKENKEEPER CRITICAL - 2 expire within 3d (of 3 tokens)"), "\(two.stdout)")
    }

    /// A store from before `token_counts` (the binary upgraded, no command that writes run yet):
    /// `check` is UNKNOWN and names what to run; after `init` migrates it the counts are the rows'
    /// (<doc:Operations#Installing>).
    @Test func aStoreAwaitingItsSchemaUpgradeIsUnknownUntilInitMigratesIt() async throws {
        let sandbox = try await CLISandbox()
        try await addExpiring(sandbox, inDays: 2)
        try await addExpiring(sandbox, inDays: 40)
        try await sandbox.sqlite(
            """
            DROP TRIGGER token_counts_delete; DROP TRIGGER token_counts_update; DROP TABLE token_counts;
            DELETE FROM grdb_migrations WHERE identifier = 'v5 token counts';
            """
        )

        let waiting = try await sandbox.run("check")
        #expect(waiting.status == 3)
        #expect(
            waiting.stdout.contains(
                "needs a schema upgrade; run a command that writes (such as `tokenkeeper init`) first"
            ),
            "\(waiting.stdout)"
        )
        #expect(try await sandbox.run("init").status == 0)
        let upgraded = try await sandbox.run("check")
        #expect(
            upgraded.stdout.hasPrefix("TOKENKEEPER CRITICAL - 1 expires within 3d (of 2 tokens)"),
            "\(upgraded.stdout)"
        )
        #expect(try await sandbox.sqlite("SELECT SUM(tokens) FROM token_counts") == "2\n")
    }

    @Test(arguments: TestBackend.all)
    func okWithNoTokens(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)

        let result = try await sandbox.run("check")

        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("TOKENKEEPER OK"))
    }

    @Test(arguments: TestBackend.all)
    func okWhenEveryTokenHasSixtyDaysLeft(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        try await sandbox.add(CLISecret.make())
        try await sandbox.add(CLISecret.make())

        let result = try await sandbox.run("check")

        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("TOKENKEEPER OK"))
    }

    @Test(arguments: TestBackend.all)
    func warningWhenATokenExpiresWithinFourteenDays(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        try await sandbox.add(CLISecret.make())
        let soon = try await addExpiring(sandbox, inDays: 10.5)

        let result = try await sandbox.run("check")

        #expect(result.status == 1)
        #expect(result.stdout.hasPrefix("TOKENKEEPER WARNING"))
        #expect(result.stdout.contains(soon))
    }

    @Test(arguments: TestBackend.all)
    func criticalWhenATokenExpiresWithinThreeDays(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        try await addExpiring(sandbox, inDays: 10.5)
        let critical = try await addExpiring(sandbox, inDays: 2)

        let result = try await sandbox.run("check")

        #expect(result.status == 2)
        #expect(result.stdout.hasPrefix("TOKENKEEPER CRITICAL"))
        #expect(result.stdout.contains(critical))
    }

    @Test(arguments: ["needs_reauth", "expired"])
    func criticalWhenATokenIsInAStateThatNeedsAPerson(state: String) async throws {
        let sandbox = try await CLISandbox()
        let id = try await sandbox.add(CLISecret.make())
        try await sandbox.sqlite("UPDATE tokens SET state = '\(state)' WHERE id = '\(id)'")

        let result = try await sandbox.run("check")

        #expect(result.status == 2)
        #expect(result.stdout.hasPrefix("TOKENKEEPER CRITICAL"))
        #expect(result.stdout.contains(id))
    }

    @Test func criticalWhenAnActiveTokenIsPastItsExpiry() async throws {
        let sandbox = try await CLISandbox()
        let id = try await sandbox.add(CLISecret.make())
        let past = Int(CLITime.days(-1).timeIntervalSince1970)
        try await sandbox.sqlite("UPDATE tokens SET expires_at = \(past) WHERE id = '\(id)'")

        let result = try await sandbox.run("check", "--json")

        #expect(result.status == 2)
        let report = try CLIJSON.parse(result.stdout)
        #expect(report["status"] == .string("CRITICAL"))
        #expect(report["expired"] == .integer(1))
    }

    @Test(arguments: TestBackend.all)
    func customWarnAndCritMoveTheThresholds(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        try await addExpiring(sandbox, inDays: 20.5)

        #expect(try await sandbox.run("check").status == 0)
        #expect(try await sandbox.run("check", "--warn", "30d").status == 1)
        #expect(try await sandbox.run("check", "--warn", "30d", "--crit", "21d").status == 2)
        #expect(try await sandbox.run("check", "--warn", "720h", "--crit", "480h").status == 1)
        #expect(try await sandbox.run("check", "--warn", "20d", "--crit", "1d").status == 0)
    }

    @Test(arguments: TestBackend.all)
    func shorterCritTurnsACriticalTokenIntoAWarning(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        try await addExpiring(sandbox, inDays: 2)

        #expect(try await sandbox.run("check").status == 2)
        #expect(try await sandbox.run("check", "--crit", "1d").status == 1)
    }

    @Test func checkJSONIsOneObjectWithStatusExitCodeAndCounts() async throws {
        let sandbox = try await CLISandbox()
        try await sandbox.add(CLISecret.make())
        let warning = try await addExpiring(sandbox, inDays: 10.5)
        let critical = try await addExpiring(sandbox, inDays: 2)
        let reauth = try await sandbox.add(CLISecret.make())
        try await sandbox.sqlite("UPDATE tokens SET state = 'needs_reauth' WHERE id = '\(reauth)'")

        let result = try await sandbox.run("check", "--json")

        #expect(result.status == 2)
        #expect(result.stdout.split(separator: "\n").count == 1)
        let report = try CLIJSON.parse(result.stdout)
        #expect(report["status"] == .string("CRITICAL"))
        #expect(report["exit_code"] == .integer(2))
        #expect(report["total"] == .integer(4))
        #expect(report["needs_reauth"] == .integer(1))
        #expect(report["expired"] == .integer(0))
        #expect(report["critical"] == .integer(1))
        #expect(report["warning"] == .integer(1))
        #expect(report["warn"] == .string("14d"))
        #expect(report["crit"] == .string("3d"))
        let named = report["tokens"]?.array?.compactMap { $0["id"]?.string } ?? []
        #expect(Set(named) == [warning, critical, reauth])
    }

    @Test(arguments: TestBackend.all)
    func checkJSONOfAHealthyInventoryIsOK(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        try await sandbox.add(CLISecret.make())

        let result = try await sandbox.run("check", "--json", "--warn", "7d", "--crit", "2d")

        #expect(result.status == 0)
        let report = try CLIJSON.parse(result.stdout)
        #expect(report["status"] == .string("OK"))
        #expect(report["exit_code"] == .integer(0))
        #expect(report["total"] == .integer(1))
        #expect(report["warn"] == .string("7d"))
        #expect(report["crit"] == .string("2d"))
    }

    @Test func missingDatabaseIsUnknown() async throws {
        let sandbox = try await CLISandbox(initialized: false)

        let result = try await sandbox.run("check")

        #expect(result.status == 3)
        #expect(result.stdout.hasPrefix("TOKENKEEPER UNKNOWN"))
        #expect(!CLIFiles.exists(sandbox.databasePath))
    }

    @Test(arguments: TestBackend.all)
    func missingDatabaseIsUnknownInJSONToo(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(initialized: false, backend: backend)

        let result = try await sandbox.run("check", "--json")

        #expect(result.status == 3)
        let report = try CLIJSON.parse(result.stdout)
        #expect(report["status"] == .string("UNKNOWN"))
    }

    @Test func corruptDatabaseIsUnknown() async throws {
        let sandbox = try await CLISandbox()
        try Data((0..<8_192).map { _ in UInt8.random(in: 0...255) }).write(
            to: URL(fileURLWithPath: sandbox.databasePath)
        )

        let result = try await sandbox.run("check")

        #expect(result.status == 3)
        #expect(result.stdout.hasPrefix("TOKENKEEPER UNKNOWN"))
    }

    @Test(arguments: TestBackend.all)
    func critLongerThanWarnIsAUsageError(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)

        let result = try await sandbox.run("check", "--warn", "3d", "--crit", "7d")

        #expect(result.status == 64)
    }

    @Test(arguments: TestBackend.all)
    func badDurationIsAUsageError(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)

        #expect(try await sandbox.run("check", "--warn", "two weeks").status == 64)
        #expect(try await sandbox.run("check", "--crit", "3").status == 64)
    }

    @Test func checkListShowAndAuditNeedNoMasterKey() async throws {
        let sandbox = try await CLISandbox()
        let id = try await addExpiring(sandbox, inDays: 10.5)
        try FileManager.default.removeItem(atPath: sandbox.keyFilePath)
        #expect(sandbox.cli.environment["TOKENKEEPER_MASTER_KEY"] == nil)

        let check = try await sandbox.run("check")
        #expect(check.status == 1, "stderr: \(check.stderr)")
        #expect(check.stdout.hasPrefix("TOKENKEEPER WARNING"))
        #expect(try await sandbox.listedIDs() == [id])
        #expect(try await sandbox.succeed("list").stdout.contains(id))
        #expect(try await sandbox.succeed("show", id, "--json").stdout.contains(id))
        #expect(try await sandbox.auditJSON().count == 1)
        #expect(try await sandbox.succeed("audit", "verify").status == 0)
        // Only what opens a token needs the key.
        #expect(try await sandbox.run("get", id).status == 64)
    }

    @Test func checkAndListIgnoreAKeyFileOpenToOthers() async throws {
        let sandbox = try await CLISandbox()
        let id = try await sandbox.add(CLISecret.make())
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: sandbox.keyFilePath)

        #expect(try await sandbox.run("check").status == 0)
        #expect(try await sandbox.listedIDs() == [id])
    }
}
