import Dispatch
import Foundation
import GRDB
import Synchronization
import Testing
import TokenKeeperSQLite
import TokenKeeperTesting

@testable import TokenKeeper

/// The group committer over a real SQLite file and the real ledger: an outcome alone commits at
/// once, those that arrive while a group is written share the next transaction, a lost lease
/// costs only its own outcome, and a failed transaction only its own group.
///
/// A trigger holds the writer inside the first group's transaction (a group being written)
/// while the test queues more outcomes with `Task.immediate`, which returns once the outcome
/// is queued. A transaction observer on the writer connection counts the transactions.
@Suite struct GroupCommitterTests {
    /// Counts the transactions committed on the writer connection (GRDB tells every observer of
    /// every commit, whatever changes it observes).
    final class TransactionCounter: TransactionObserver, Sendable {
        private let commits = Mutex(0)

        var count: Int { commits.withLock { $0 } }

        func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { false }
        func databaseDidChange(with event: DatabaseEvent) {}
        func databaseDidCommit(_ db: Database) { commits.withLock { $0 += 1 } }
        func databaseDidRollback(_ db: Database) {}
    }

    /// Holds the writer inside the transaction that writes `tokenID`'s outcome until released.
    final class WriterHold: Sendable {
        private let released = DispatchSemaphore(value: 0)
        private let (entered, enter) = AsyncStream<Void>.makeStream()

        init(_ store: SQLiteStore, holding tokenID: String) throws {
            let function = DatabaseFunction("test_hold", argumentCount: 0) { [enter, released] _ in
                enter.yield()
                // A guard against a test that fails before releasing: never hold the writer for good.
                _ = released.wait(timeout: .now() + 120)
                return nil
            }
            try store.database { db in
                db.add(function: function)
                try db.execute(
                    sql: """
                        CREATE TRIGGER test_hold AFTER UPDATE OF version ON tokens
                        WHEN NEW.id = '\(tokenID)' BEGIN SELECT test_hold(); END
                        """
                )
            }
        }

        /// Returns once the writer is inside the held transaction.
        func held() async throws {
            try await value(of: Task { [entered] in for await _ in entered { return } }, within: .seconds(120))
        }

        func release() { released.signal() }
    }

    let fixture: StoreFixture
    let ledger: RefreshLedger
    let committer: GroupCommitter
    let transactions = TransactionCounter()

    init() throws {
        fixture = try StoreFixture()
        ledger = RefreshLedger(inventory: fixture.inventory, owner: "test:1", lease: .seconds(300))
        committer = GroupCommitter(ledger: ledger)
        fixture.sqlite.pool.add(transactionObserver: transactions, extent: .observerLifetime)
    }

    /// Adds `count` tokens due now and claims them.
    func claimed(_ count: Int) throws -> [TokenRecord] {
        let now = fixture.clock.now
        let ids = try (0..<count).map { _ in
            try fixture.inventory.add(
                token: "EAAG-\(UUID().uuidString)",
                NewToken(project: "p1", issuedAt: now - .seconds(58 * 86_400), expiresAt: now + .seconds(2 * 86_400))
            ).id
        }
        let records = try ledger.claim(ids, now: now)
        try #require(records.count == count)
        return records
    }

    /// A successful refresh of `record`, sealed and ready to commit.
    func refreshed(_ record: TokenRecord) throws -> RefreshLedger.Outcome {
        let now = fixture.clock.now
        let decision = RefreshStateMachine.Decision(
            state: .active,
            failures: 0,
            issuedAt: now,
            expiresAt: now + .seconds(60 * 86_400),
            refreshAt: now + .seconds(40 * 86_400),
            lastError: nil,
            storesNewToken: true,
            event: .refreshed,
            note: nil,
            hooks: [],
            pauseProjectUntil: nil
        )
        return try ledger.prepare(
            decision,
            for: record,
            newToken: "EAAG-new-\(UUID().uuidString)",
            detail: AuditDetail(),
            now: now
        )
    }

    /// Commits `outcome` from a task that has queued it when this returns, unless the writer
    /// is idle, in which case it leads the next group.
    @available(macOS 26, *)
    func queue(_ outcome: RefreshLedger.Outcome) -> Task<Bool, any Error> {
        Task.immediate { [committer] in try await committer.commit(outcome) }
    }

    /// Commits `outcome` and returns the answer, failing rather than hanging when none comes.
    func commit(_ outcome: RefreshLedger.Outcome) async throws -> Bool {
        try await value(of: Task { [committer] in try await committer.commit(outcome) })
    }

    /// True when `record`'s outcome was written: its version moved on, its lease is gone, and it
    /// has a `refreshed` audit row.
    func wasWritten(_ record: TokenRecord) throws -> Bool {
        let current = try fixture.inventory.token(id: record.id)
        let audited = try fixture.auditEvents().contains { $0.tokenID == record.id && $0.event == "refreshed" }
        let written = current.version == record.version + 1 && current.leaseOwner == nil && audited
        let untouched = current.version == record.version && current.fingerprint == record.fingerprint && !audited
        try #require(written || untouched, "\(record.id) is half written")
        return written
    }

    @Test func anOutcomeAloneCommitsAtOnceInATransactionOfItsOwn() async throws {
        let record = try #require(try claimed(1).first)
        let before = transactions.count
        #expect(try await commit(refreshed(record)))
        #expect(transactions.count - before == 1)
        #expect(try wasWritten(record))
    }

    @available(macOS 26, *)
    @Test func outcomesThatArriveWhileAGroupIsWrittenCommitTogetherInTheNext() async throws {
        let records = try claimed(4)
        let hold = try WriterHold(fixture.sqlite, holding: records[0].id)
        let before = transactions.count
        let first = queue(try refreshed(records[0]))
        try await hold.held()
        let queued = try records[1...].map { queue(try refreshed($0)) }
        hold.release()

        #expect(try await value(of: first))
        for task in queued { #expect(try await value(of: task)) }
        #expect(transactions.count - before == 2, "three outcomes queued behind a group took more than one transaction")
        for record in records { #expect(try wasWritten(record)) }
    }

    @available(macOS 26, *)
    @Test func anOutcomeWhoseLeaseWasLostWritesNothingAndItsGroupStillCommits() async throws {
        let records = try claimed(3)
        // The second token's lease lapses and another process claims it.
        fixture.clock.advance(by: ledger.lease + .seconds(1))
        let other = RefreshLedger(inventory: fixture.inventory, owner: "other:2", lease: .seconds(300))
        try #require(try other.claim([records[1].id], now: fixture.clock.now).count == 1)

        let hold = try WriterHold(fixture.sqlite, holding: records[0].id)
        let before = transactions.count
        let first = queue(try refreshed(records[0]))
        try await hold.held()
        let lost = queue(try refreshed(records[1]))
        let kept = queue(try refreshed(records[2]))
        hold.release()

        #expect(try await value(of: first))
        #expect(try await value(of: lost) == false)
        #expect(try await value(of: kept))
        #expect(transactions.count - before == 2)
        #expect(try wasWritten(records[0]))
        #expect(try !wasWritten(records[1]))
        #expect(try fixture.inventory.token(id: records[1].id).leaseOwner == "other:2", "the other holder keeps it")
        #expect(try wasWritten(records[2]))
    }

    @available(macOS 26, *)
    @Test func aDatabaseErrorFailsEveryOutcomeOfItsGroupAndLaterGroupsStillCommit() async throws {
        let records = try claimed(4)
        try fixture.sqlite.database { db in
            try db.execute(
                sql: """
                    CREATE TRIGGER test_refuse BEFORE UPDATE OF version ON tokens
                    WHEN NEW.id = '\(records[2].id)' BEGIN SELECT RAISE(ABORT, 'commit refused by the test'); END
                    """
            )
        }
        let hold = try WriterHold(fixture.sqlite, holding: records[0].id)
        let first = queue(try refreshed(records[0]))
        try await hold.held()
        // A sound outcome shares the transaction of one the database refuses.
        let sound = queue(try refreshed(records[1]))
        let refused = queue(try refreshed(records[2]))
        hold.release()

        #expect(try await value(of: first))
        for task in [sound, refused] {
            let error = await #expect(throws: (any Error).self) { try await value(of: task) }
            #expect(error.map { "\($0)" }?.contains("commit refused by the test") == true)
        }
        #expect(try !wasWritten(records[1]), "a group is one transaction: none of it stands")
        #expect(try !wasWritten(records[2]))

        #expect(try await commit(refreshed(records[3])))
        #expect(try wasWritten(records[0]))
        #expect(try wasWritten(records[3]))
    }
}
