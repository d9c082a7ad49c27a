import Foundation
import Testing
import TokenKeeperTesting

/// `list`, `show`, `get` and `remove`.
@Suite struct ListAndShowCLITests {
    /// Adds tokens expiring `days` from now (half-day margins keep "in Nd" stable) and returns their ids.
    @discardableResult
    private func addExpiring(_ sandbox: CLISandbox, days: [Double], project: String = "p1") async throws -> [String] {
        var ids: [String] = []
        for day in days {
            ids.append(
                try await sandbox.add(
                    CLISecret.make(),
                    project: project,
                    "--expires-at",
                    CLITime.format(CLITime.days(day))
                )
            )
        }
        return ids
    }

    // MARK: - list

    @Test(arguments: TestBackend.all)
    func listTableIsSortedByExpiryWithRemainingDaysAndState(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let ids = try await addExpiring(sandbox, days: [40.5, 10.5, 25.5])

        let result = try await sandbox.succeed("list")

        let lines = result.stdout.split(separator: "\n").map(String.init)
        try #require(lines.count == 4, "a header and three rows: \(result.stdout)")
        #expect(lines[0].hasPrefix("ID"))
        #expect(lines[0].contains("STATE"))
        #expect(lines[1].hasPrefix(ids[1]) && lines[1].contains("in 10d") && lines[1].contains("active"))
        #expect(lines[2].hasPrefix(ids[2]) && lines[2].contains("in 25d") && lines[2].contains("active"))
        #expect(lines[3].hasPrefix(ids[0]) && lines[3].contains("in 40d") && lines[3].contains("active"))
    }

    @Test(arguments: TestBackend.all)
    func listPrintsNoTokenValues(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let tokens = [CLISecret.make(), CLISecret.make()]
        for token in tokens { try await sandbox.add(token) }

        let table = try await sandbox.succeed("list")
        let json = try await sandbox.succeed("list", "--json")

        for token in tokens {
            #expect(!table.everything.contains(token))
            #expect(!json.everything.contains(token))
        }
    }

    @Test(arguments: TestBackend.all)
    func listJSONIsOneArraySortedByExpiry(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let ids = try await addExpiring(sandbox, days: [30, 5, 50])

        let result = try await sandbox.succeed("list", "--json")

        #expect(result.stdout.split(separator: "\n").count == 1)
        let array = try #require(try CLIJSON.parse(result.stdout).array)
        #expect(array.compactMap { $0["id"]?.string } == [ids[1], ids[0], ids[2]])
        for object in array {
            #expect(Set(object.object?.keys.map { $0 } ?? []) == AddCLITests.tokenFields)
        }
    }

    @Test(arguments: TestBackend.all)
    func listJSONWithNoTokensIsAnEmptyArray(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)

        #expect(try await sandbox.succeed("list", "--json").stdout == "[]\n")
    }

    @Test(arguments: TestBackend.all)
    func expiringWithinKeepsOnlyTokensExpiringSooner(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let ids = try await addExpiring(sandbox, days: [5.5, 10.5, 30])

        #expect(try await sandbox.listedIDs("--expiring-within", "7d") == [ids[0]])
        #expect(try await sandbox.listedIDs("--expiring-within", "264h") == [ids[0], ids[1]])
        #expect(try await sandbox.listedIDs("--expiring-within", "1d").isEmpty)
    }

    @Test func stateFilterKeepsOnlyThatState() async throws {
        let sandbox = try await CLISandbox()
        let ids = try await addExpiring(sandbox, days: [10, 20, 30])
        try await sandbox.sqlite("UPDATE tokens SET state = 'needs_reauth' WHERE id = '\(ids[1])'")

        #expect(try await sandbox.listedIDs("--state", "needs_reauth") == [ids[1]])
        #expect(try await sandbox.listedIDs("--state", "active") == [ids[0], ids[2]])
        #expect(try await sandbox.listedIDs("--state", "expired").isEmpty)
        let table = try await sandbox.succeed("list").stdout
        #expect(table.split(separator: "\n").contains { $0.hasPrefix(ids[1]) && $0.contains("needs_reauth") })
    }

    @Test(arguments: TestBackend.all)
    func projectFilterKeepsOnlyThatProject(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let first = try await addExpiring(sandbox, days: [10, 30], project: "alpha")
        let second = try await addExpiring(sandbox, days: [20], project: "beta")

        #expect(try await sandbox.listedIDs("--project", "alpha") == first)
        #expect(try await sandbox.listedIDs("--project", "beta") == second)
        #expect(try await sandbox.listedIDs("--project", "gamma").isEmpty)
    }

    @Test(arguments: TestBackend.all)
    func limitPrintsTheSoonestN(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let ids = try await addExpiring(sandbox, days: [30, 10, 20])

        #expect(try await sandbox.listedIDs("--limit", "2") == [ids[1], ids[2]])
        #expect(try await sandbox.listedIDs("--limit", "0").isEmpty)
        #expect(try await sandbox.listedIDs("--limit", "9") == [ids[1], ids[2], ids[0]])
        let table = try await sandbox.succeed("list", "--limit", "1").stdout.split(separator: "\n")
        #expect(table.count == 2)
        #expect(table.last?.hasPrefix(ids[1]) == true)
    }

    @Test(arguments: TestBackend.all)
    func filtersCombine(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let alpha = try await addExpiring(sandbox, days: [5.5, 6.5, 30], project: "alpha")
        _ = try await addExpiring(sandbox, days: [4.5], project: "beta")

        let ids = try await sandbox.listedIDs(
            "--project",
            "alpha",
            "--expiring-within",
            "7d",
            "--state",
            "active",
            "--limit",
            "1"
        )

        #expect(ids == [alpha[0]])
    }

    @Test(arguments: ["7", "7x", "-7d", "7 d", "1y", "abc"])
    func badDurationIsAUsageError(duration: String) async throws {
        let sandbox = try await CLISandbox()

        let result = try await sandbox.run("list", "--expiring-within", duration)

        #expect(result.status == 64)
        #expect(result.stdout.isEmpty)
    }

    @Test(arguments: TestBackend.all)
    func unknownStateIsAUsageError(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)

        let result = try await sandbox.run("list", "--state", "sleeping")

        #expect(result.status == 64)
        #expect(result.stderr.contains("sleeping"))
    }

    @Test(arguments: TestBackend.all)
    func negativeLimitIsAUsageError(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)

        #expect(try await sandbox.run("list", "--limit=-1").status == 64)
    }

    // MARK: - show

    @Test(arguments: TestBackend.all)
    func showJSONPrintsOneObjectEqualToTheListEntry(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let id = try await sandbox.add(CLISecret.make(), project: "p1", "--label", "Acme", "--waba", "1000")

        let result = try await sandbox.succeed("show", id, "--json")

        #expect(result.stdout.split(separator: "\n").count == 1)
        let object = try CLIJSON.parse(result.stdout)
        #expect(Set(object.object?.keys.map { $0 } ?? []) == AddCLITests.tokenFields)
        #expect(object == (try await sandbox.listJSON().first))
    }

    @Test(arguments: TestBackend.all)
    func showTextNamesTheRecordWithoutItsValue(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let token = CLISecret.make()
        let id = try await sandbox.add(token, project: "p7", "--label", "Acme")

        let result = try await sandbox.succeed("show", id)

        #expect(result.stdout.contains(id))
        #expect(result.stdout.contains("p7"))
        #expect(result.stdout.contains("Acme"))
        #expect(result.stdout.contains("active"))
        #expect(!result.everything.contains(token))
    }

    @Test(arguments: [["show", "tk_000000000000"], ["show", "tk_000000000000", "--json"]])
    func showOfAnUnknownIdIsBadInput(arguments: [String]) async throws {
        let sandbox = try await CLISandbox()

        let result = try await sandbox.cli.run(arguments)

        #expect(result.status == 65)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("tk_000000000000"))
    }

    // MARK: - get

    @Test(arguments: TestBackend.all)
    func getPrintsTheTokenAndAuditsRevealed(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let token = CLISecret.make()
        let id = try await sandbox.add(token)

        let result = try await sandbox.succeed("get", id)

        #expect(result.stdout == token + "\n")
        let revealed = try await sandbox.auditJSON("--event", "revealed")
        #expect(revealed.count == 1)
        #expect(revealed.first?["token"] == .string(id))
    }

    @Test(arguments: TestBackend.all)
    func getOfAnUnknownIdIsBadInputAndAuditsNothing(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        try await sandbox.add(CLISecret.make())

        let result = try await sandbox.run("get", "tk_000000000000")

        #expect(result.status == 65)
        #expect(result.stdout.isEmpty)
        #expect(try await sandbox.auditJSON("--event", "revealed").isEmpty)
    }

    // MARK: - remove

    @Test(arguments: TestBackend.all)
    func removeDeletesTheTokenAndAuditsRemoved(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let kept = try await sandbox.add(CLISecret.make())
        let gone = try await sandbox.add(CLISecret.make())

        try await sandbox.succeed("remove", gone)

        #expect(try await sandbox.listedIDs() == [kept])
        #expect(try await sandbox.run("show", gone).status == 65)
        #expect(try await sandbox.run("get", gone).status == 65)
        let history = try await sandbox.auditJSON("--token", gone)
        #expect(history.compactMap { $0["event"]?.string } == ["added", "removed"])
    }

    @Test(arguments: TestBackend.all)
    func removeOfAnUnknownIdIsBadInput(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let id = try await sandbox.add(CLISecret.make())

        let result = try await sandbox.run("remove", "tk_000000000000")

        #expect(result.status == 65)
        #expect(result.stderr.contains("tk_000000000000"))
        #expect(try await sandbox.listedIDs() == [id])
        #expect(try await sandbox.auditJSON("--event", "removed").isEmpty)
    }

    @Test(arguments: TestBackend.all)
    func removingTwiceIsBadInputTheSecondTime(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let id = try await sandbox.add(CLISecret.make())

        try await sandbox.succeed("remove", id)
        let again = try await sandbox.run("remove", id)

        #expect(again.status == 65)
        #expect(try await sandbox.auditJSON("--event", "removed").count == 1)
    }
}
