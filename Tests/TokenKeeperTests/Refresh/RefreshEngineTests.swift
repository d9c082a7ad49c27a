import Foundation
import Logging
import SinchProvisioning
import Synchronization
import Testing
import TokenKeeper
import TokenKeeperSQLite
import TokenKeeperTesting

/// The engine over a real SQLite file and a manual clock, with a scripted exchanger below the
/// `TokenExchanging` protocol (the HTTP path is proven end to end in the CLI tests).
@Suite struct RefreshEngineTests {
    /// Answers each refresh from a per-project script and counts the calls.
    final class ScriptedExchange: TokenExchanging {
        private let state = Mutex<(calls: [String: Int], failing: [String: SinchError], echoing: Set<String>)>(
            ([:], [:], [])
        )

        func fail(_ project: String, with error: SinchError?) { state.withLock { $0.failing[project] = error } }
        /// Answers the project's refreshes with the token sent, as Meta may within a day.
        func echo(_ project: String) { state.withLock { _ = $0.echoing.insert(project) } }
        func calls(_ project: String) -> Int { state.withLock { $0.calls[project] ?? 0 } }

        func refresh(token: String, project: String, businessManager: String?) async throws(SinchError) -> String {
            let (failure, echoing) = state.withLock { state -> (SinchError?, Bool) in
                state.calls[project, default: 0] += 1
                return (state.failing[project], state.echoing.contains(project))
            }
            if let failure { throw failure }
            if echoing { return token }
            return "EAAG-refreshed-\(UUID().uuidString)"
        }
    }

    /// Takes a minute of the manual clock per call, and counts the calls that started with less
    /// lease left on their token than `budget`.
    final class LeaseCheckingExchange: TokenExchanging {
        let store: any TokenStore
        let sealer: TokenSealer
        let clock: ManualClock
        let budget: Duration
        private let short = Mutex(0)

        init(store: any TokenStore, sealer: TokenSealer, clock: ManualClock, budget: Duration) {
            self.store = store
            self.sealer = sealer
            self.clock = clock
            self.budget = budget
        }

        func shortLeases() -> Int { short.withLock { $0 } }

        func refresh(token: String, project: String, businessManager: String?) async throws(SinchError) -> String {
            let now = clock.now
            let fingerprint = sealer.fingerprint(token)
            let lease = try? store.read { reader in
                try reader.sealedTokens(withFingerprint: fingerprint).first.flatMap {
                    try reader.token(id: $0.id)?.leaseUntil
                }
            }
            if (lease ?? nil).map({ $0 < now + budget }) ?? true { short.withLock { $0 += 1 } }
            clock.advance(by: .seconds(60))
            return "EAAG-refreshed-\(UUID().uuidString)"
        }
    }

    static let throttled = SinchError(
        .throttled,
        status: 429,
        code: "facebook_Request_limit_reached",
        message: "too many calls"
    )

    /// A fresh store of `backend`, a scripted exchange and an engine over them.
    struct Harness {
        let fixture: StoreFixture
        let exchange = ScriptedExchange()
        let engine: RefreshEngine

        init(_ backend: TestBackend) throws {
            fixture = try StoreFixture(
                backend,
                policy: RenewalPolicy(backoffMin: .seconds(60), backoffMax: .seconds(3_600))
            )
            var limits = TokenKeeperConfiguration.Limits()
            limits.concurrency = 1
            limits.rate = 1_000
            engine = RefreshEngine(
                inventory: fixture.inventory,
                exchanger: exchange,
                limits: limits,
                owner: "test:1",
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            )
        }

        /// Adds a token of `project` that is due now (it expires in two days, inside renew-before).
        @discardableResult
        func addDue(_ project: String) throws -> String {
            let now = fixture.clock.now
            let new = NewToken(
                project: project,
                issuedAt: now - .seconds(58 * 86_400),
                expiresAt: now + .seconds(2 * 86_400)
            )
            return try fixture.inventory.add(token: "EAAG-\(UUID().uuidString)", new).id
        }

        func record(_ id: String) throws -> TokenRecord { try fixture.inventory.token(id: id) }
    }

    @Test(arguments: TestBackend.all)
    func aThrottledProjectWaitsAsAWholeWithoutChargingItsTokens(_ backend: TestBackend) async throws {
        let h = try Harness(backend)
        let throttledIDs = try (0..<3).map { _ in try h.addDue("p1") }
        let otherIDs = try (0..<2).map { _ in try h.addDue("p2") }
        h.exchange.fail("p1", with: Self.throttled)
        let now = h.fixture.clock.now

        let summary = try await h.engine.runOnce()

        #expect(summary.due == 5)
        #expect(summary.refreshed == 2)
        #expect(summary.failed == 1)
        #expect(summary.skipped == 2)
        #expect(h.exchange.calls("p1") == 1, "one throttled answer must stop the project's other calls")
        #expect(h.exchange.calls("p2") == 2)
        for id in throttledIDs {
            let token = try h.record(id)
            #expect(token.failures == 0, "throttling is not the token's fault")
            #expect(token.refreshAt >= now + .seconds(60), "\(id) would be tried again inside the pause")
            #expect(token.leaseOwner == nil)
        }
        #expect(try throttledIDs.map { try h.record($0).state }.filter { $0 == .retrying }.count == 1)
        for id in otherIDs { #expect(try h.record(id).state == .active) }

        // Another pass (or another process) inside the pause sends nothing for the project.
        h.fixture.clock.advance(by: .seconds(30))
        let inside = try await h.engine.runOnce()
        #expect(inside.due == 0)
        #expect(h.exchange.calls("p1") == 1)
    }

    @Test(arguments: TestBackend.all)
    func consecutivePausesOfAProjectGrowAndASuccessResetsThem(_ backend: TestBackend) async throws {
        let h = try Harness(backend)
        let ids = try (0..<2).map { _ in try h.addDue("p1") }
        h.exchange.fail("p1", with: Self.throttled)

        // No Retry-After: the pause is the backoff ceiling of the project's strike (1, 2, 4 min).
        var pauses: [Int64] = []
        for _ in 0..<3 {
            let start = h.fixture.clock.now
            _ = try await h.engine.runOnce()
            let resumes = try ids.map { try h.record($0).refreshAt }.min()!
            pauses.append(resumes.seconds - start.seconds)
            h.fixture.clock.set(try ids.map { try h.record($0).refreshAt }.max()!)
        }
        #expect(pauses == [60, 120, 240])

        h.exchange.fail("p1", with: nil)
        let recovered = try await h.engine.runOnce()
        #expect(recovered.refreshed == ids.count)

        // The strikes started over: the next throttling pauses for the first ceiling again.
        try h.addDue("p1")
        h.exchange.fail("p1", with: Self.throttled)
        let start = h.fixture.clock.now
        _ = try await h.engine.runOnce()
        var all: [TokenRecord] = []
        try h.fixture.inventory.forEachToken(matching: .init()) { all.append($0) }
        let paused = all.filter { $0.state == .retrying }
        #expect(paused.count == 1)
        #expect(paused.first.map { $0.refreshAt.seconds - start.seconds } == 60)
    }

    @Test(arguments: TestBackend.all)
    func retryAfterSetsThePause(_ backend: TestBackend) async throws {
        let h = try Harness(backend)
        let ids = try (0..<2).map { _ in try h.addDue("p1") }
        var error = Self.throttled
        error.retryAfter = .seconds(7)
        h.exchange.fail("p1", with: error)
        let start = h.fixture.clock.now
        _ = try await h.engine.runOnce()
        #expect(h.exchange.calls("p1") == 1)
        for id in ids { #expect(try h.record(id).refreshAt >= start + .seconds(7)) }
        #expect(try ids.map { try h.record($0).refreshAt }.min() == start + .seconds(7))
    }

    /// A pause never holds a token past its last safe moment: the engine calls for it then, even
    /// though its project is still paused, and reports the outcome.
    @Test(arguments: TestBackend.all)
    func aPausedProjectsTokenIsStillTriedAtItsLastSafeMoment(_ backend: TestBackend) async throws {
        let h = try Harness(backend)
        let now = h.fixture.clock.now
        let lastDay = try h.fixture.inventory.add(
            token: "EAAG-last-day",
            NewToken(project: "p1", issuedAt: now - .seconds(59 * 86_400), expiresAt: now + .seconds(23 * 3_600))
        )
        var error = Self.throttled
        error.retryAfter = .seconds(6 * 86_400)
        h.exchange.fail("p1", with: error)
        _ = try await h.engine.runOnce()
        #expect(h.exchange.calls("p1") == 1)
        let lastMoment = lastDay.expiresAt - .seconds(3_600)
        #expect(try h.record(lastDay.id).refreshAt == lastMoment)

        // Sinch recovers, but the project's pause (6 days) is not over when the moment comes.
        h.exchange.fail("p1", with: nil)
        h.fixture.clock.set(lastMoment)
        let summary = try await h.engine.runOnce()
        #expect(summary.refreshed == 1)
        #expect(h.exchange.calls("p1") == 2)
        #expect(try h.record(lastDay.id).expiresAt > lastDay.expiresAt)
    }

    /// A call never starts on a lease shorter than the longest call can take: a token claimed with
    /// others renews its lease when the calls before it took long.
    @Test(arguments: TestBackend.all)
    func aCallStartsOnlyWithALeaseThatOutlastsIt(_ backend: TestBackend) async throws {
        let h = try Harness(backend)
        let budget = RefreshEngine.callBudget(httpTimeout: TokenKeeperConfiguration.maximumHTTPTimeout)
        let store = h.fixture.store
        let clock = h.fixture.clock
        // Each call takes a minute of the clock, and checks the lease it runs under.
        let exchange = LeaseCheckingExchange(
            store: store,
            sealer: TokenSealer(masterKey: h.fixture.key),
            clock: clock,
            budget: budget
        )
        var limits = TokenKeeperConfiguration.Limits()
        limits.concurrency = 1
        limits.rate = 1_000
        let engine = RefreshEngine(
            inventory: h.fixture.inventory,
            exchanger: exchange,
            limits: limits,
            owner: "test:1",
            callBudget: budget,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        for _ in 0..<2 { try h.addDue("p1") }
        let summary = try await engine.runOnce()
        #expect(summary.refreshed == 2)
        #expect(exchange.shortLeases() == 0, "a call started with less lease left than the longest call takes")
    }

    /// A Sinch that hangs costs a bounded time per pass: after three timeouts in a row the
    /// project pauses, and its other due tokens wait without a call.
    @Test(arguments: TestBackend.all)
    func timeoutsInARowPauseTheProject(_ backend: TestBackend) async throws {
        let h = try Harness(backend)
        let ids = try (0..<8).map { _ in try h.addDue("p1") }
        let others = try (0..<2).map { _ in try h.addDue("p2") }
        h.exchange.fail("p1", with: SinchError(.transient, status: nil, code: "timeout", message: "no answer in 30 s"))
        let start = h.fixture.clock.now
        let summary = try await h.engine.runOnce()
        #expect(h.exchange.calls("p1") == RefreshStateMachine.timeoutsBeforePause)
        #expect(summary.failed == 3 && summary.refreshed == 2 && summary.skipped == 5)
        for id in ids { #expect(try h.record(id).refreshAt >= start + .seconds(60)) }
        for id in others { #expect(try h.record(id).state == .active) }
        let notes = try h.fixture.auditEvents().filter { $0.event == "refresh_failed" }.map(\.detail)
        #expect(notes.filter { $0.contains("3 calls in a row timed out") }.count == 1)
    }

    @Test(arguments: TestBackend.all)
    func theSameTokenBackKeepsTheRealExpiryAndIsReportedApart(_ backend: TestBackend) async throws {
        let h = try Harness(backend)
        let id = try h.addDue("p1")
        let before = try h.record(id)
        h.exchange.echo("p1")
        let now = h.fixture.clock.now
        let summary = try await h.engine.runOnce()
        #expect(summary.notExtended == 1 && summary.refreshed == 0)
        let after = try h.record(id)
        #expect(after.expiresAt == before.expiresAt, "Sinch's answer proved no extension")
        #expect(after.issuedAt == before.issuedAt && after.lastRefreshedAt == nil)
        #expect(after.refreshAt == now + h.fixture.inventory.policy.minAge)
        let event = try #require(try h.fixture.auditEvents().last)
        #expect(event.event == "not_extended")
        #expect(event.detail.contains(#""fingerprint":"\#(before.fingerprint)""#))
        // `check` still sees the token dying in two days.
        let report = try ExpiryCheck().run(on: h.fixture.inventory)
        #expect(report.counts.critical == 1)
    }

    @Test(arguments: TestBackend.all)
    func refusedCredentialsPauseTheProjectToo(_ backend: TestBackend) async throws {
        let h = try Harness(backend)
        let ids = try (0..<3).map { _ in try h.addDue("p1") }
        h.exchange.fail("p1", with: SinchError(.credentials, status: 401, code: "unauthorized", message: "bad key"))
        let summary = try await h.engine.runOnce()
        #expect(h.exchange.calls("p1") == 1)
        #expect(summary.failed == 1)
        for id in ids { #expect(try h.record(id).failures == 0) }
        let failed = try ids.map { try h.record($0) }.first { $0.state == .retrying }
        #expect(failed?.lastError?.errorClass == "credentials")
    }
}

extension RefreshEngineTests {
    @Test(arguments: TestBackend.all)
    func runOnceRefreshesEverythingDueAcrossBatches(_ backend: TestBackend) async throws {
        let h = try Harness(backend)
        let ids = try (0..<7).map { _ in try h.addDue("p\(Int.random(in: 1...3))") }
        let summary = try await h.engine.runOnce(batch: 3)
        #expect(summary.due == 7)
        #expect(summary.refreshed == 7)
        for id in ids { #expect(try h.record(id).lastRefreshedAt != nil) }
        let dryRun = try await h.engine.runOnce(dryRun: true, batch: 3)
        #expect(dryRun.due == 0)
    }
}
