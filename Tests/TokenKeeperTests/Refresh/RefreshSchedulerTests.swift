import Foundation
import GRDB
import Logging
import ServiceLifecycle
import SinchProvisioning
import Synchronization
import Testing
import TokenKeeper
import TokenKeeperSQLite
import TokenKeeperTesting

/// The daemon's loop in process, over a real SQLite file and the real engine with a scripted
/// exchanger: it refreshes what is due, reports a failed pass until one goes through, and stops
/// when cancelled or, letting the call in flight commit, on graceful shutdown.
///
/// Its timer is not injected: it sleeps on the real wall clock until a deadline read from the
/// injected clock. A manual clock set decades ahead makes every sleep last until a wake; one set
/// years back makes every sleep end at once, so passes follow each other. Each test stops the
/// loop while a call to Sinch is held, the moment whose outcome it can check.
@Suite struct RefreshSchedulerTests {
    /// Answers every refresh with a new token; while held, each call waits until let go.
    final class HeldExchange: TokenExchanging {
        private struct State {
            var calls = 0
            var holding = false
            var waiting: [CheckedContinuation<Void, Never>] = []
        }

        private let state = Mutex(State())

        var calls: Int { state.withLock { $0.calls } }

        func hold() { state.withLock { $0.holding = true } }

        /// Lets the call waiting go, once there is one.
        func letOneGo() async throws {
            try await callWaiting()
            state.withLock { $0.waiting.removeFirst() }.resume()
        }

        /// Stops holding, and lets every waiting call go.
        func letAllGo() {
            let waiting = state.withLock { state in
                state.holding = false
                defer { state.waiting = [] }
                return state.waiting
            }
            for continuation in waiting { continuation.resume() }
        }

        /// Returns once a call is waiting.
        func callWaiting() async throws {
            try await waitUntil("a call to Sinch", within: .seconds(120)) { state.withLock { !$0.waiting.isEmpty } }
        }

        func refresh(token: String, project: String, businessManager: String?) async throws(SinchError) -> String {
            await withCheckedContinuation { continuation in
                let holding = state.withLock { state in
                    state.calls += 1
                    if state.holding { state.waiting.append(continuation) }
                    return state.holding
                }
                if !holding { continuation.resume() }
            }
            return "EAAG-refreshed-\(UUID().uuidString)"
        }
    }

    /// Every sleep lasts until a wake (the timer's deadline is years after the real time).
    static let sleepsUntilWoken = UnixTime(seconds: 4_000_000_000)
    /// Every sleep ends at once (the timer's deadline is years before the real time).
    static let sleepsNotAtAll = UnixTime(seconds: 1_500_000_000)

    static let noLogs = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    let fixture: StoreFixture
    let exchange = HeldExchange()
    let engine: RefreshEngine

    init() throws {
        fixture = try StoreFixture()
        var limits = TokenKeeperConfiguration.Limits()
        limits.concurrency = 1
        limits.rate = 1_000
        engine = RefreshEngine(
            inventory: fixture.inventory,
            exchanger: exchange,
            limits: limits,
            owner: "test:1",
            logger: Self.noLogs
        )
    }

    func scheduler(clockAt start: UnixTime, logger: Logger = noLogs) -> RefreshScheduler {
        fixture.clock.set(start)
        return RefreshScheduler(engine: engine, clock: fixture.clock, logger: logger)
    }

    /// Adds a token that is due now (it expires in two days), or, with `due` false, in weeks.
    @discardableResult
    func add(due: Bool = true) throws -> String {
        let now = fixture.clock.now
        let new =
            due
            ? NewToken(project: "p1", issuedAt: now - .seconds(58 * 86_400), expiresAt: now + .seconds(2 * 86_400))
            : NewToken(project: "p1", issuedAt: now, expiresAt: now + .seconds(60 * 86_400))
        return try fixture.inventory.add(token: "EAAG-\(UUID().uuidString)", new).id
    }

    func isRefreshed(_ id: String) throws -> Bool { try fixture.inventory.token(id: id).lastRefreshedAt != nil }

    /// Stops the loop with its last call to Sinch still in flight (see the suite's note), then
    /// lets the call finish and waits for `run` to return.
    func cancelDuringACall(_ running: Task<Void, any Error>) async throws {
        try await exchange.callWaiting()
        running.cancel()
        exchange.letAllGo()
        try await value(of: running)
    }

    @Test func refreshesWhatIsDueOnItsFirstPass() async throws {
        let scheduler = scheduler(clockAt: Self.sleepsUntilWoken)
        let due = try (0..<3).map { _ in try add() }
        let later = try add(due: false)
        exchange.hold()
        let running = Task { try await scheduler.run() }
        for _ in 0..<2 { try await exchange.letOneGo() }
        try await cancelDuringACall(running)
        #expect(try due.allSatisfy(isRefreshed))
        #expect(exchange.calls == 3)
        #expect(try !isRefreshed(later))
    }

    @Test func problemIsNilOnlyWhileItRuns() async throws {
        let scheduler = scheduler(clockAt: Self.sleepsUntilWoken)
        #expect(scheduler.problem == "the refresh scheduler is not running")
        try add()
        exchange.hold()
        let running = Task { try await scheduler.run() }
        try await exchange.callWaiting()
        #expect(scheduler.problem == nil)
        try await cancelDuringACall(running)
        #expect(scheduler.problem == "the refresh scheduler is not running")
    }

    /// Makes every claim fail (until the trigger `test_refuse` is dropped).
    func refuseClaims() throws {
        try fixture.sqlite.database { db in
            try db.execute(
                sql: """
                    CREATE TRIGGER test_refuse BEFORE UPDATE OF lease_owner ON tokens
                    BEGIN SELECT RAISE(ABORT, 'claims refused by the test'); END
                    """
            )
        }
    }

    @Test func aFailedPassIsReportedUntilAPassGoesThrough() async throws {
        let scheduler = scheduler(clockAt: Self.sleepsNotAtAll)
        let id = try add()
        // Every claim fails, as on a database locked past its busy timeout.
        try refuseClaims()
        let running = Task { try await scheduler.run() }
        try await waitUntil("a failed pass to be reported") {
            scheduler.problem?.hasPrefix("the last refresh pass failed:") == true
        }
        #expect(scheduler.problem?.contains("claims refused by the test") == true, "\(scheduler.problem ?? "nil")")
        #expect(try !isRefreshed(id))

        try fixture.sqlite.database { db in try db.execute(sql: "DROP TRIGGER test_refuse") }
        try await waitUntil("a pass to go through") { try isRefreshed(id) && scheduler.problem == nil }
        // A token added now is found by the next pass, whose call is held so the loop can stop.
        exchange.hold()
        try add()
        try await cancelDuringACall(running)
    }

    /// A pass over many tokens takes a while: once a refresh committed after the failed pass,
    /// the failure is no longer reported, though that pass has not ended (a server restart used
    /// to keep `/healthz` at 503 for the whole next pass, a minute at 4,000 tokens).
    @Test func aFailedPassIsNoLongerReportedOnceARefreshCommitsAfterIt() async throws {
        let scheduler = scheduler(clockAt: Self.sleepsNotAtAll)
        let ids = try (0..<2).map { _ in try add() }
        try refuseClaims()
        let running = Task { try await scheduler.run() }
        try await waitUntil("a failed pass to be reported") {
            scheduler.problem?.hasPrefix("the last refresh pass failed:") == true
        }
        exchange.hold()
        try fixture.sqlite.database { db in try db.execute(sql: "DROP TRIGGER test_refuse") }
        try await exchange.letOneGo()
        try await waitUntil("a refresh committed") { try ids.contains(where: isRefreshed) }
        try await exchange.callWaiting()

        #expect(scheduler.problem == nil, "\(scheduler.problem ?? "nil")")
        try await cancelDuringACall(running)
    }

    /// Cancelled (the grace period is over) while a call is in flight: the call's outcome
    /// commits, the tokens waiting for the call slot are let go without a call, and `run` returns.
    @Test func cancelledMidPassItStartsNoOtherCall() async throws {
        let scheduler = scheduler(clockAt: Self.sleepsUntilWoken)
        let ids = try (0..<3).map { _ in try add() }
        exchange.hold()
        let running = Task { try await scheduler.run() }
        try await cancelDuringACall(running)
        try expectOnlyTheCallInFlightCommitted(ids)
    }

    /// Graceful shutdown (SIGTERM in the daemon) while a call is in flight: the same, by the
    /// shutdown handler rather than cancellation.
    @Test func onGracefulShutdownTheCallInFlightCommitsAndNothingNewStarts() async throws {
        let lines = RecordingLogHandler.Lines()
        let scheduler = scheduler(clockAt: Self.sleepsUntilWoken, logger: RecordingLogHandler.logger(into: lines))
        let ids = try (0..<3).map { _ in try add() }
        exchange.hold()
        let group = ServiceGroup(services: [scheduler], logger: Self.noLogs)
        let running = Task { try await group.run() }
        try await exchange.callWaiting()

        await group.triggerGracefulShutdown()
        try await waitUntil("the scheduler to start stopping") { lines.text.contains("stopping") }
        exchange.letAllGo()
        try await value(of: running)
        try expectOnlyTheCallInFlightCommitted(ids)
    }

    func expectOnlyTheCallInFlightCommitted(_ ids: [String]) throws {
        #expect(exchange.calls == 1)
        let tokens = try ids.map { try fixture.inventory.token(id: $0) }
        #expect(tokens.filter { $0.lastRefreshedAt != nil }.count == 1, "the call in flight commits")
        #expect(tokens.allSatisfy { $0.leaseOwner == nil }, "a token claimed but not called is let go")
    }
}
