import Foundation
import Logging
import SinchProvisioning
import Synchronization
import Testing
import TokenKeeperTesting

@testable import TokenKeeper

/// A refresher's heartbeat (``Heartbeat``, ``RefresherActivity``) in a real store with a manual
/// clock, and `check --stale` (``ExpiryCheck``) reading it.
@Suite struct HeartbeatTests {
    static let day: Int64 = 86_400

    /// Answers every refresh with a new value, a minute of the manual clock each; while
    /// `holding`, the second call first waits for `release` (a pass in its middle).
    final class Exchange: TokenExchanging {
        let clock: ManualClock
        let holding: Bool
        let (gate, release) = AsyncStream<Void>.makeStream()
        private let calls = Mutex(0)

        init(clock: ManualClock, holding: Bool = false) {
            self.clock = clock
            self.holding = holding
        }

        func refresh(token: String, project: String, businessManager: String?) async throws(SinchError) -> String {
            let call = calls.withLock { calls in
                calls += 1
                return calls
            }
            if holding, call == 2 {
                for await _ in gate { break }
            }
            clock.advance(by: .seconds(60))
            return "EAAG-refreshed-\(UUID().uuidString)"
        }
    }

    /// A store whose reads fail with a TokenKeeperError while `failing` is set; writes go through.
    final class FlakyStore: TokenStore {
        let inner: any TokenStore
        let failing = Atomic(false)
        static let message = "the database went away (a message no heartbeat may hold)"

        init(_ inner: any TokenStore) { self.inner = inner }
        var location: String { inner.location }
        var folder: String? { inner.folder }
        func healthProblem() -> String? { inner.healthProblem() }
        func read<T>(_ body: (any StoreReading) throws -> T) throws -> T {
            if failing.load(ordering: .relaxed) { throw TokenKeeperError(.database, Self.message) }
            return try inner.read(body)
        }
        func write<T>(bulk: Bool, _ body: (any StoreWriting) throws -> T) throws -> T {
            try inner.write(bulk: bulk, body)
        }
        func mapError(_ error: any Error) -> TokenKeeperError { inner.mapError(error) }
        func installAuditSealer(_ sealer: TokenSealer) { inner.installAuditSealer(sealer) }
    }

    /// An engine over `fixture`'s store (wrapped in a ``FlakyStore``) and its clock.
    struct Harness {
        let fixture: StoreFixture
        let store: FlakyStore
        let exchange: Exchange
        let engine: RefreshEngine

        init(_ backend: TestBackend, holding: Bool = false) throws {
            fixture = try StoreFixture(backend)
            store = FlakyStore(fixture.store)
            exchange = Exchange(clock: fixture.clock, holding: holding)
            let inventory = Inventory(
                store: store,
                policy: RenewalPolicy(),
                clock: fixture.clock,
                actor: "test:1",
                sealer: TokenSealer(masterKey: fixture.key)
            )
            var limits = TokenKeeperConfiguration.Limits()
            limits.concurrency = 1
            limits.rate = 1_000
            engine = RefreshEngine(
                inventory: inventory,
                exchanger: exchange,
                limits: limits,
                owner: "heartbeat-test:\(getpid()):\(UUID().uuidString.prefix(8))",
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            )
        }

        func heartbeat(_ kind: RefresherHeartbeat.Kind = .daemon) -> Heartbeat {
            Heartbeat(engine: engine, kind: kind, clock: fixture.clock)
        }

        /// Every refresher row, whenever it beat.
        func rows() throws -> [RefresherHeartbeat] {
            try fixture.store.read { try $0.refreshers(seenSince: UnixTime(seconds: 0)) }
        }

        /// Adds a token due now: it expires in two days and was issued 58 days ago.
        func addDue() throws {
            let now = fixture.clock.now
            let new = NewToken(project: "p1", issuedAt: now - .seconds(58 * day), expiresAt: now + .seconds(2 * day))
            _ = try fixture.inventory.add(token: "EAAG-\(UUID().uuidString)", new)
        }
    }

    @Test(arguments: TestBackend.all)
    func aBeatWritesOneRowPerOwnerThatReadsBack(_ backend: TestBackend) throws {
        let h = try Harness(backend)
        let started = h.fixture.clock.now
        let heartbeat = h.heartbeat(.runOnce)
        try heartbeat.beat()

        let expected = RefresherHeartbeat(
            owner: h.engine.owner,
            host: ProcessInfo.processInfo.hostName,
            pid: Int(getpid()),
            kind: .runOnce,
            version: TokenKeeperVersion.current,
            startedAt: started,
            beatAt: started
        )
        #expect(try h.fixture.store.read { try $0.refreshers(seenSince: started) } == [expected])

        // A beat a minute later updates the same row: the start stays, the beat moves.
        h.fixture.clock.advance(by: .seconds(60))
        try heartbeat.beat()
        var later = expected
        later.beatAt = started + .seconds(60)
        #expect(try h.rows() == [later])
        #expect(try h.fixture.store.read { try $0.refreshers(seenSince: started + .seconds(61)) }.isEmpty)
    }

    @Test(arguments: TestBackend.all)
    func aBeatForgetsRefreshersLastSeenMoreThanSevenDaysEarlier(_ backend: TestBackend) throws {
        let h = try Harness(backend)
        let now = h.fixture.clock.now
        func old(_ owner: String, beatAt: UnixTime) -> RefresherHeartbeat {
            RefresherHeartbeat(
                owner: owner,
                host: "elsewhere",
                pid: 7,
                kind: .daemon,
                version: "0.1",
                startedAt: beatAt,
                beatAt: beatAt
            )
        }
        let forgotten = old("gone:1:1", beatAt: now - .seconds(7 * Self.day + 1))
        let kept = old("kept:1:1", beatAt: now - .seconds(7 * Self.day))
        // Written with nothing to forget, as a beat of long ago would have.
        for beat in [forgotten, kept] {
            try h.fixture.store.write { try $0.recordHeartbeat(beat, forgetBefore: UnixTime(seconds: 0)) }
        }
        #expect(try h.rows().map(\.owner) == [kept.owner, forgotten.owner])

        try h.heartbeat().beat()
        #expect(try h.rows().map(\.owner) == [h.engine.owner, kept.owner])
    }

    @Test(arguments: TestBackend.all)
    func aPassThatEndedWellIsTheLastPass(_ backend: TestBackend) async throws {
        let h = try Harness(backend)
        try h.addDue()
        let heartbeat = h.heartbeat()
        try heartbeat.beat()
        #expect(try h.rows().first?.lastPassAt == nil)
        #expect(try h.rows().first?.lastPassOK == nil)

        let summary = try await h.engine.runOnce()
        #expect(summary.refreshed == 1)
        let ended = h.fixture.clock.now  // the exchange took the manual clock's minute
        h.fixture.clock.advance(by: .seconds(30))
        try heartbeat.beat()
        let row = try #require(try h.rows().first)
        #expect(row.lastPassAt == ended)
        #expect(row.lastPassOK == true)
        #expect(row.lastErrorClass == nil)
        #expect(row.beatAt == ended + .seconds(30))
    }

    @Test(arguments: TestBackend.all)
    func aFailedPassRecordsTheErrorsCodeNotItsMessage(_ backend: TestBackend) async throws {
        let h = try Harness(backend)
        let heartbeat = h.heartbeat()
        h.fixture.clock.advance(by: .seconds(5))
        h.store.failing.store(true, ordering: .relaxed)
        await #expect(throws: (any Error).self) { try await h.engine.runOnce() }
        h.store.failing.store(false, ordering: .relaxed)
        try heartbeat.beat()

        let row = try #require(try h.rows().first)
        #expect(row.lastPassAt == h.fixture.clock.now)
        #expect(row.lastPassOK == false)
        #expect(row.lastErrorClass == "database")
        #expect(!"\(row)".contains("went away"))

        // The next pass that goes through clears the failure, not the class of the last error.
        h.fixture.clock.advance(by: .seconds(60))
        _ = try await h.engine.runOnce()
        try heartbeat.beat()
        let after = try #require(try h.rows().first)
        #expect(after.lastPassOK == true)
        #expect(after.lastPassAt == h.fixture.clock.now)
        #expect(after.lastErrorClass == "database")
    }

    @Test func anErrorsClassIsItsCodeOrInternal() {
        struct Other: Error {}
        let error = TokenKeeperError(.databaseLocked, "locked by pid 42 at /secret/path")
        #expect(RefresherActivity.errorClass(of: error) == "databaseLocked")
        #expect(
            RefresherActivity.errorClass(of: RefreshInterrupted(summary: RefreshSummary(), error: error))
                == "databaseLocked"
        )
        #expect(RefresherActivity.errorClass(of: Other()) == "internal")
    }

    @Test(arguments: TestBackend.all)
    func anAttemptDuringALongPassMovesTheLastPassLater(_ backend: TestBackend) async throws {
        let h = try Harness(backend, holding: true)
        let heartbeat = h.heartbeat()
        // A first pass with nothing due ends now.
        _ = try await h.engine.runOnce()
        let firstEnded = h.fixture.clock.now
        try heartbeat.beat()
        #expect(try h.rows().first?.lastPassAt == firstEnded)

        try h.addDue()
        try h.addDue()
        let pass = Task { try await h.engine.runOnce() }
        // The first refresh commits a minute on; the second waits in its exchange, the pass open.
        var seen: UnixTime?
        try await waitUntil("the first refresh of the pass in the heartbeat", within: .seconds(60)) {
            try heartbeat.beat()
            seen = try h.rows().first?.lastPassAt ?? nil
            return seen != firstEnded
        }
        #expect(seen == firstEnded + .seconds(60))
        #expect(try h.rows().first?.lastPassOK == true)
        h.exchange.release.yield()
        let summary = try await pass.value
        #expect(summary.refreshed == 2)
        try heartbeat.beat()
        #expect(try h.rows().first?.lastPassAt == firstEnded + .seconds(120))
    }

    @Test func theLastPassIsTheLaterOfThePassEndAndTheLastAttempt() {
        let activity = RefresherActivity()
        let identity = RefresherHeartbeat(
            owner: "o",
            host: "h",
            pid: 1,
            kind: .daemon,
            version: "v",
            startedAt: UnixTime(seconds: 100),
            beatAt: UnixTime(seconds: 100)
        )
        #expect(activity.apply(to: identity) == identity)
        activity.attempted(at: UnixTime(seconds: 150), errorClass: nil)
        #expect(activity.apply(to: identity).lastPassAt == UnixTime(seconds: 150))
        #expect(activity.apply(to: identity).lastPassOK == true)
        activity.passEnded(at: UnixTime(seconds: 200), error: nil)
        activity.attempted(at: UnixTime(seconds: 260), errorClass: "transient")
        var beat = activity.apply(to: identity)
        #expect(beat.lastPassAt == UnixTime(seconds: 260))
        #expect(beat.lastErrorClass == "transient")
        activity.passEnded(at: UnixTime(seconds: 300), error: TokenKeeperError(.database, "disk full at /x"))
        beat = activity.apply(to: identity)
        #expect(beat.lastPassAt == UnixTime(seconds: 300))
        #expect(beat.lastPassOK == false)
        #expect(beat.lastErrorClass == "database")
    }

    // MARK: - check --stale

    /// Writes a heartbeat of `owner` that beat `ago` seconds before now, its last pass `passAgo`.
    static func beat(_ fixture: StoreFixture, _ owner: String, ago: Int64, passAgo: Int64?, ok: Bool?) throws {
        let now = fixture.clock.now
        let beat = RefresherHeartbeat(
            owner: owner,
            host: "h",
            pid: 1,
            kind: .daemon,
            version: "v",
            startedAt: now - .seconds(ago),
            beatAt: now - .seconds(ago),
            lastPassAt: passAgo.map { now - .seconds($0) },
            lastPassOK: ok
        )
        try fixture.store.write { try $0.recordHeartbeat(beat, forgetBefore: UnixTime(seconds: 0)) }
    }

    @Test(arguments: TestBackend.all)
    func staleWarnsOnceTheStoreOutlivesStaleWithoutAPass(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        _ = try fixture.inventory.add(token: "EAAstaleVALUE1", NewToken(project: "p1"))
        let check = ExpiryCheck(stale: .seconds(3_600))

        // A store filled less than an hour ago has had no time for a pass.
        fixture.clock.advance(by: .seconds(3_599))
        var report = try check.run(on: fixture.inventory)
        #expect(report.status == .ok && !report.refreshersStale && report.lastPassAt == nil)
        #expect(TextOutput.checkLine(report).hasSuffix(" refreshers_stale=0"))

        // An hour after the first token was added, with no heartbeat at all: WARNING.
        fixture.clock.advance(by: .seconds(1))
        report = try check.run(on: fixture.inventory)
        #expect(report.status == .warning && report.refreshersStale && report.lastPassAt == nil)
        let line = TextOutput.checkLine(report)
        #expect(
            line.hasPrefix(
                "TOKENKEEPER WARNING - no refresher (daemon or run-once) has completed a pass in 1h (none seen)"
            )
        )
        #expect(line.hasSuffix(" refreshers_stale=1"))

        // A refresher that beats but has not passed within the hour does not count.
        try Self.beat(fixture, "quiet:1:1", ago: 0, passAgo: nil, ok: nil)
        #expect(try check.run(on: fixture.inventory).status == .warning)

        // A pass an hour ago exactly counts; OK again, with the pass's time.
        try Self.beat(fixture, "daemon:1:1", ago: 30, passAgo: 3_600, ok: true)
        report = try check.run(on: fixture.inventory)
        #expect(report.status == .ok && !report.refreshersStale)
        #expect(report.lastPassAt == fixture.clock.now - .seconds(3_600))
        fixture.clock.advance(by: .seconds(1))
        #expect(try check.run(on: fixture.inventory).status == .warning)
    }

    @Test(arguments: TestBackend.all)
    func aFailedPassIsNotACompletedOne(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        _ = try fixture.inventory.add(token: "EAAstaleVALUE2", NewToken(project: "p1"))
        fixture.clock.advance(by: .seconds(3 * 3_600))
        try Self.beat(fixture, "old:1:1", ago: 7_200, passAgo: 7_200, ok: true)
        try Self.beat(fixture, "failing:1:1", ago: 10, passAgo: 60, ok: false)

        let report = try ExpiryCheck(stale: .seconds(3_600)).run(on: fixture.inventory)
        #expect(report.status == .warning && report.refreshersStale)
        // The latest completed pass is the older, successful one.
        #expect(report.lastPassAt == fixture.clock.now - .seconds(7_200))
        #expect(TextOutput.checkLine(report).contains("(last 2h ago)"))
    }

    @Test(arguments: TestBackend.all)
    func criticalStaysCriticalWhenRefreshersAreStale(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let id = try fixture.inventory.add(token: "EAAstaleVALUE3", NewToken(project: "p1")).id
        try fixture.underTheSeam("UPDATE tokens SET state = 'needs_reauth' WHERE id = '\(id)'")
        fixture.clock.advance(by: .seconds(2 * 3_600))
        let report = try ExpiryCheck(stale: .seconds(3_600)).run(on: fixture.inventory)
        #expect(report.status == .critical)
        #expect(report.refreshersStale)
    }

    @Test(arguments: TestBackend.all)
    func noStaleLimitOrNoTokensNeverWarns(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        fixture.clock.advance(by: .seconds(2 * Self.day))
        // An empty store has nothing to refresh.
        var report = try ExpiryCheck(stale: .seconds(3_600)).run(on: fixture.inventory)
        #expect(report.status == .ok && !report.refreshersStale)

        _ = try fixture.inventory.add(token: "EAAstaleVALUE4", NewToken(project: "p1"))
        fixture.clock.advance(by: .seconds(2 * Self.day))
        report = try ExpiryCheck(stale: nil).run(on: fixture.inventory)
        #expect(report.status == .ok && !report.refreshersStale && report.lastPassAt == nil)
        #expect(!TextOutput.checkLine(report).contains("refreshers_stale"))
        #expect(try ExpiryCheck().run(on: fixture.inventory).status == .ok)
    }

    @Test(arguments: TestBackend.all)
    func aStaleLimitLongerThanADayFindsOlderPasses(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        _ = try fixture.inventory.add(token: "EAAstaleVALUE5", NewToken(project: "p1"))
        fixture.clock.advance(by: .seconds(3 * Self.day))
        try Self.beat(fixture, "weekly:1:1", ago: 36 * 3_600, passAgo: 36 * 3_600, ok: true)
        let report = try ExpiryCheck(stale: .seconds(2 * Self.day)).run(on: fixture.inventory)
        #expect(report.status == .ok && !report.refreshersStale)
        #expect(report.lastPassAt == fixture.clock.now - .seconds(36 * 3_600))
    }
}
