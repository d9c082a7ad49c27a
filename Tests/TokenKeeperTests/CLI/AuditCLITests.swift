import Foundation
import Testing
import TokenKeeperTesting

/// `tokenkeeper audit` and `audit verify`: the hash-chained log of every change.
@Suite struct AuditCLITests {
    static let eventFields: Set<String> = ["seq", "at", "token", "event", "actor", "detail", "hash"]

    /// A token that was added, revealed, replaced and removed, and a second one that was only added.
    private func history(_ sandbox: CLISandbox) async throws -> (first: String, second: String) {
        let first = try await sandbox.add(CLISecret.make())
        try await sandbox.succeed("get", first)
        try await sandbox.succeed("add", "--replace", first, stdin: CLISecret.make())
        let second = try await sandbox.add(CLISecret.make(), project: "p2")
        try await sandbox.succeed("remove", first)
        return (first, second)
    }

    @Test(arguments: TestBackend.all)
    func auditJSONPrintsOneEventALineWithTheContractFields(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let (first, second) = try await history(sandbox)

        let result = try await sandbox.succeed("audit", "--json")

        let events = try CLIJSON.parseLines(result.stdout)
        #expect(result.stdout.split(separator: "\n").count == 5)
        #expect(events.map { $0["seq"] } == (1...5).map { .integer($0) })
        #expect(events.compactMap { $0["event"]?.string } == ["added", "revealed", "replaced", "added", "removed"])
        #expect(events.compactMap { $0["token"]?.string } == [first, first, first, second, first])
        for event in events {
            #expect(Set(event.object?.keys.map { $0 } ?? []) == Self.eventFields)
            #expect(CLITime.isUTCStamp(event["at"]?.string ?? ""), "at: \(String(describing: event["at"]))")
            #expect(event["actor"]?.string?.hasPrefix("cli:") == true)
            #expect(event["detail"]?.object != nil, "detail is an object")
            #expect(event["hash"]?.string?.wholeMatch(of: /[0-9a-f]{64}/) != nil)
        }
        #expect(Set(events.compactMap { $0["hash"]?.string }).count == 5)
    }

    @Test(arguments: TestBackend.all)
    func eventDetailsCarryFingerprintsAndProject(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let id = try await sandbox.add(CLISecret.make(), project: "p9")
        let fingerprint = try #require(try await sandbox.listJSON().first?["fingerprint"])

        let added = try #require(try await sandbox.auditJSON().first)

        #expect(added["token"] == .string(id))
        #expect(added["detail"]?["fingerprint"] == fingerprint)
        #expect(added["detail"]?["project"] == .string("p9"))
        #expect(added["detail"]?["source"] == .string("add"))
    }

    @Test(arguments: TestBackend.all)
    func auditTextPrintsOneLinePerEventInSeqOrder(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        _ = try await history(sandbox)

        let lines = try await sandbox.succeed("audit").stdout.split(separator: "\n")

        #expect(lines.count == 5)
        for (index, line) in lines.enumerated() {
            #expect(line.hasPrefix("\(index + 1) "), "line: \(line)")
        }
        #expect(lines[1].contains("revealed"))
    }

    @Test(arguments: TestBackend.all)
    func emptyLogPrintsNothing(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)

        let result = try await sandbox.succeed("audit", "--json")

        #expect(result.stdout.isEmpty)
    }

    @Test(arguments: TestBackend.all)
    func tokenFilterKeepsOneTokensEvents(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let (first, second) = try await history(sandbox)

        let firstEvents = try await sandbox.auditJSON("--token", first)
        let secondEvents = try await sandbox.auditJSON("--token", second)

        #expect(firstEvents.compactMap { $0["event"]?.string } == ["added", "revealed", "replaced", "removed"])
        #expect(firstEvents.map { $0["seq"] } == [1, 2, 3, 5].map { .integer($0) })
        #expect(secondEvents.compactMap { $0["event"]?.string } == ["added"])
        #expect(try await sandbox.auditJSON("--token", "tk_000000000000").isEmpty)
    }

    @Test(arguments: [("added", [1, 4]), ("revealed", [2]), ("replaced", [3]), ("removed", [5]), ("refreshed", [])])
    func eventFilterKeepsOneKindOfEvent(event: String, seqs: [Int]) async throws {
        let sandbox = try await CLISandbox()
        _ = try await history(sandbox)

        let events = try await sandbox.auditJSON("--event", event)

        #expect(events.map { $0["seq"] } == seqs.map { .integer($0) })
        #expect(events.allSatisfy { $0["event"] == .string(event) })
    }

    @Test(arguments: TestBackend.all)
    func limitPrintsTheMostRecentEventsInSeqOrder(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let (first, _) = try await history(sandbox)

        #expect(try await sandbox.auditJSON("--limit", "2").map { $0["seq"] } == [.integer(4), .integer(5)])
        #expect(try await sandbox.auditJSON("--limit", "0").isEmpty)
        #expect(try await sandbox.auditJSON("--limit", "50").count == 5)
        let recent = try await sandbox.auditJSON("--token", first, "--limit", "2")
        #expect(recent.map { $0["seq"] } == [.integer(3), .integer(5)])
        let text = try await sandbox.succeed("audit", "--limit", "3").stdout.split(separator: "\n")
        #expect(text.map { $0.prefix(2) } == ["3 ", "4 ", "5 "])
    }

    @Test(arguments: TestBackend.all)
    func sinceKeepsEventsAtOrAfterTheTime(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        _ = try await history(sandbox)

        #expect(try await sandbox.auditJSON("--since", CLITime.format(CLITime.days(-1))).count == 5)
        #expect(try await sandbox.auditJSON("--since", CLITime.format(CLITime.days(1))).isEmpty)
    }

    @Test(arguments: TestBackend.all)
    func unknownEventIsAUsageError(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)

        let result = try await sandbox.run("audit", "--event", "exploded")

        #expect(result.status == 64)
        #expect(result.stderr.contains("exploded"))
    }

    // MARK: - verify

    @Test(arguments: TestBackend.all)
    func verifyExitsZeroOnAnIntactChain(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        _ = try await history(sandbox)

        let result = try await sandbox.run("audit", "verify")

        #expect(result.status == 0)
        #expect(result.stdout.contains("intact"))
    }

    @Test(arguments: TestBackend.all)
    func verifyExitsZeroOnAnEmptyLog(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)

        #expect(try await sandbox.run("audit", "verify").status == 0)
    }

    @Test func verifyExitsOneAndNamesTheFirstEditedSeq() async throws {
        let sandbox = try await CLISandbox()
        _ = try await history(sandbox)
        try await sandbox.sqlite("DROP TRIGGER audit_no_update; UPDATE audit SET detail = '{}' WHERE seq = 2")

        let result = try await sandbox.run("audit", "verify")

        #expect(result.status == 1)
        #expect(result.stdout.contains("seq 2"), "stdout: \(result.stdout)")
        #expect(!result.stdout.contains("seq 3"))
    }

    @Test func verifyNamesTheEarliestOfSeveralEditedRows() async throws {
        let sandbox = try await CLISandbox()
        _ = try await history(sandbox)
        try await sandbox.sqlite(
            "DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'cli:mallory' WHERE seq IN (3, 4)"
        )

        let result = try await sandbox.run("audit", "verify")

        #expect(result.status == 1)
        #expect(result.stdout.contains("seq 3"), "stdout: \(result.stdout)")
    }

    @Test func verifyExitsOneWhenARowIsDeleted() async throws {
        let sandbox = try await CLISandbox()
        _ = try await history(sandbox)
        try await sandbox.sqlite("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 2")

        let result = try await sandbox.run("audit", "verify")

        #expect(result.status == 1)
        #expect(result.stdout.contains("seq 3"), "the row after the gap: \(result.stdout)")
    }

    @Test(arguments: TestBackend.all)
    func verifyOfAMissingDatabaseIsADatabaseError(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(initialized: false, backend: backend)

        #expect(try await sandbox.run("audit", "verify").status == 74)
    }

    /// A guard kept under its name but made harmless (SQLite `WHEN 0`; PostgreSQL `ENABLE REPLICA`
    /// or `DISABLE`) lets an edit through, so `verify` names it unguarded and `restore-triggers`
    /// makes it again as the schema says: the edit is refused afterwards.
    @Test(arguments: [
        (
            TestBackend.sqlite,
            "DROP TRIGGER audit_no_update; CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit WHEN 0 "
                + "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
        ),
        (TestBackend.postgres, "ALTER TABLE audit ENABLE REPLICA TRIGGER audit_no_update"),
        (TestBackend.postgres, "ALTER TABLE audit DISABLE TRIGGER audit_no_update"),
    ])
    func aGuardMadeHarmlessIsUnguardedUntilRestoreTriggersRemakesIt(_ backend: TestBackend, sql: String) async throws {
        guard TestBackend.all.contains(backend) else { return }
        let sandbox = try await CLISandbox(backend: backend)
        _ = try await history(sandbox)
        try await sandbox.underTheSeam(sql)

        let unguarded = try await sandbox.run("audit", "verify")
        #expect(unguarded.status == 1, "\(unguarded.everything)")
        #expect(unguarded.stdout.contains("append-only triggers audit_no_update are missing or disabled"))

        let restored = try await sandbox.succeed("audit", "restore-triggers")
        #expect(restored.stdout.contains("restored the audit table's append-only triggers audit_no_update;"))
        #expect(try await sandbox.run("audit", "verify").status == 0)
        await #expect(throws: (any Error).self) {
            try await sandbox.underTheSeam("UPDATE audit SET actor = 'cli:mallory' WHERE seq = 1")
        }
        let again = try await sandbox.succeed("audit", "restore-triggers")
        #expect(again.stdout.contains("all in place"))
    }
}
