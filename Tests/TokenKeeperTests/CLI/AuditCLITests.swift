import Foundation
import Testing
import TokenKeeperTesting

/// `tokenkeeper audit` and `audit verify`: the hash-chained log of every change.
@Suite struct AuditCLITests {
    static let eventFields: Set<String> = ["seq", "at", "token", "event", "actor", "detail", "hash"]

    /// A token that was added, revealed, replaced and removed, and a second one that was only added.
    private func history(_ sandbox: CLISandbox) throws -> (first: String, second: String) {
        let first = try sandbox.add(CLISecret.make())
        try sandbox.succeed("get", first)
        try sandbox.succeed("add", "--replace", first, stdin: CLISecret.make())
        let second = try sandbox.add(CLISecret.make(), project: "p2")
        try sandbox.succeed("remove", first)
        return (first, second)
    }

    @Test func auditJSONPrintsOneEventALineWithTheContractFields() throws {
        let sandbox = try CLISandbox()
        let (first, second) = try history(sandbox)

        let result = try sandbox.succeed("audit", "--json")

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

    @Test func eventDetailsCarryFingerprintsAndProject() throws {
        let sandbox = try CLISandbox()
        let id = try sandbox.add(CLISecret.make(), project: "p9")
        let fingerprint = try #require(try sandbox.listJSON().first?["fingerprint"])

        let added = try #require(try sandbox.auditJSON().first)

        #expect(added["token"] == .string(id))
        #expect(added["detail"]?["fingerprint"] == fingerprint)
        #expect(added["detail"]?["project"] == .string("p9"))
        #expect(added["detail"]?["source"] == .string("add"))
    }

    @Test func auditTextPrintsOneLinePerEventInSeqOrder() throws {
        let sandbox = try CLISandbox()
        _ = try history(sandbox)

        let lines = try sandbox.succeed("audit").stdout.split(separator: "\n")

        #expect(lines.count == 5)
        for (index, line) in lines.enumerated() {
            #expect(line.hasPrefix("\(index + 1) "), "line: \(line)")
        }
        #expect(lines[1].contains("revealed"))
    }

    @Test func emptyLogPrintsNothing() throws {
        let sandbox = try CLISandbox()

        let result = try sandbox.succeed("audit", "--json")

        #expect(result.stdout.isEmpty)
    }

    @Test func tokenFilterKeepsOneTokensEvents() throws {
        let sandbox = try CLISandbox()
        let (first, second) = try history(sandbox)

        let firstEvents = try sandbox.auditJSON("--token", first)
        let secondEvents = try sandbox.auditJSON("--token", second)

        #expect(firstEvents.compactMap { $0["event"]?.string } == ["added", "revealed", "replaced", "removed"])
        #expect(firstEvents.map { $0["seq"] } == [1, 2, 3, 5].map { .integer($0) })
        #expect(secondEvents.compactMap { $0["event"]?.string } == ["added"])
        #expect(try sandbox.auditJSON("--token", "tk_000000000000").isEmpty)
    }

    @Test(arguments: [("added", [1, 4]), ("revealed", [2]), ("replaced", [3]), ("removed", [5]), ("refreshed", [])])
    func eventFilterKeepsOneKindOfEvent(event: String, seqs: [Int]) throws {
        let sandbox = try CLISandbox()
        _ = try history(sandbox)

        let events = try sandbox.auditJSON("--event", event)

        #expect(events.map { $0["seq"] } == seqs.map { .integer($0) })
        #expect(events.allSatisfy { $0["event"] == .string(event) })
    }

    @Test func limitPrintsTheMostRecentEventsInSeqOrder() throws {
        let sandbox = try CLISandbox()
        let (first, _) = try history(sandbox)

        #expect(try sandbox.auditJSON("--limit", "2").map { $0["seq"] } == [.integer(4), .integer(5)])
        #expect(try sandbox.auditJSON("--limit", "0").isEmpty)
        #expect(try sandbox.auditJSON("--limit", "50").count == 5)
        let recent = try sandbox.auditJSON("--token", first, "--limit", "2")
        #expect(recent.map { $0["seq"] } == [.integer(3), .integer(5)])
        let text = try sandbox.succeed("audit", "--limit", "3").stdout.split(separator: "\n")
        #expect(text.map { $0.prefix(2) } == ["3 ", "4 ", "5 "])
    }

    @Test func sinceKeepsEventsAtOrAfterTheTime() throws {
        let sandbox = try CLISandbox()
        _ = try history(sandbox)

        #expect(try sandbox.auditJSON("--since", CLITime.format(CLITime.days(-1))).count == 5)
        #expect(try sandbox.auditJSON("--since", CLITime.format(CLITime.days(1))).isEmpty)
    }

    @Test func unknownEventIsAUsageError() throws {
        let sandbox = try CLISandbox()

        let result = try sandbox.run("audit", "--event", "exploded")

        #expect(result.status == 64)
        #expect(result.stderr.contains("exploded"))
    }

    // MARK: - verify

    @Test func verifyExitsZeroOnAnIntactChain() throws {
        let sandbox = try CLISandbox()
        _ = try history(sandbox)

        let result = try sandbox.run("audit", "verify")

        #expect(result.status == 0)
        #expect(result.stdout.contains("intact"))
    }

    @Test func verifyExitsZeroOnAnEmptyLog() throws {
        let sandbox = try CLISandbox()

        #expect(try sandbox.run("audit", "verify").status == 0)
    }

    @Test func verifyExitsOneAndNamesTheFirstEditedSeq() throws {
        let sandbox = try CLISandbox()
        _ = try history(sandbox)
        try sandbox.sqlite("DROP TRIGGER audit_no_update; UPDATE audit SET detail = '{}' WHERE seq = 2")

        let result = try sandbox.run("audit", "verify")

        #expect(result.status == 1)
        #expect(result.stdout.contains("seq 2"), "stdout: \(result.stdout)")
        #expect(!result.stdout.contains("seq 3"))
    }

    @Test func verifyNamesTheEarliestOfSeveralEditedRows() throws {
        let sandbox = try CLISandbox()
        _ = try history(sandbox)
        try sandbox.sqlite(
            "DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'cli:mallory' WHERE seq IN (3, 4)"
        )

        let result = try sandbox.run("audit", "verify")

        #expect(result.status == 1)
        #expect(result.stdout.contains("seq 3"), "stdout: \(result.stdout)")
    }

    @Test func verifyExitsOneWhenARowIsDeleted() throws {
        let sandbox = try CLISandbox()
        _ = try history(sandbox)
        try sandbox.sqlite("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 2")

        let result = try sandbox.run("audit", "verify")

        #expect(result.status == 1)
        #expect(result.stdout.contains("seq 3"), "the row after the gap: \(result.stdout)")
    }

    @Test func verifyOfAMissingDatabaseIsADatabaseError() throws {
        let sandbox = try CLISandbox(initialized: false)

        #expect(try sandbox.run("audit", "verify").status == 74)
    }
}
