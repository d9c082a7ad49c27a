import Foundation
import GRDB
import Logging
import SinchProvisioning
import Synchronization
import Testing
import TokenKeeperTesting

@testable import TokenKeeper

/// `probe` and `policy.probe_every` in the engine and the stores: a real store of each backend,
/// a manual clock and a scripted prober below `TokenProbing` (the HTTP path, `wabaDetails` at
/// FakeSinch, is proven through the binary in ProbeCLITests).
@Suite struct ProbeEngineTests {
    /// Answers each probe from a script keyed by token value, and counts the calls.
    final class ScriptedProbe: TokenProbing {
        private let state = Mutex<(calls: [String: Int], failing: [String: SinchError])>(([:], [:]))

        func fail(_ token: String, with error: SinchError?) { state.withLock { $0.failing[token] = error } }
        func calls(_ token: String) -> Int { state.withLock { $0.calls[token] ?? 0 } }
        var total: Int { state.withLock { $0.calls.values.reduce(0, +) } }

        func probe(token: String, project: String) async throws(SinchError) {
            let failure = state.withLock { state -> SinchError? in
                state.calls[token, default: 0] += 1
                return state.failing[token]
            }
            if let failure { throw failure }
        }
    }

    static let refused = SinchError(
        .permanent,
        status: 400,
        code: "invalid_facebook_token",
        message: "the token is invalid"
    )

    /// The answers that say nothing about the token.
    static let noVerdict: [SinchError] = [
        SinchError(.transient, status: 503, code: "service_unavailable", message: "try later"),
        SinchError(.throttled, status: 429, code: "too_many_requests", message: "slow down"),
        SinchError(.credentials, status: 401, code: "unauthorized", message: "bad key"),
    ]

    struct Harness {
        let fixture: StoreFixture
        let prober = ScriptedProbe()
        let exchange = RefreshEngineTests.ScriptedExchange()
        let engine: RefreshEngine
        /// Where the reauth hook leaves a file per token it ran for.
        let hookRecord: String

        init(_ backend: TestBackend, probeEvery: Duration? = nil) throws {
            fixture = try StoreFixture(backend)
            hookRecord = fixture.directory.file("hooks")
            try FileManager.default.createDirectory(atPath: hookRecord, withIntermediateDirectories: true)
            let script = fixture.directory.file("hook.sh")
            try """
            #!/bin/sh
            env | grep '^TOKENKEEPER_ERROR=' > "\(hookRecord)/$TOKENKEEPER_TOKEN_ID.$1"
            """.write(toFile: script, atomically: true, encoding: .utf8)
            chmod(script, 0o755)
            var hooks = TokenKeeperConfiguration.Hooks()
            hooks[.reauth] = "\(script) reauth"
            hooks[.deploy] = "\(script) deploy"
            var limits = TokenKeeperConfiguration.Limits()
            limits.concurrency = 2
            limits.rate = 1_000
            engine = RefreshEngine(
                inventory: fixture.inventory,
                exchanger: exchange,
                prober: prober,
                probeEvery: probeEvery,
                limits: limits,
                owner: "test:1",
                hooks: HookRunner(hooks: hooks),
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            )
        }

        var now: UnixTime { fixture.clock.now }

        /// Adds an active token far from its refresh (it expires in 50 days); its id and value.
        func add(_ project: String = "p1") throws -> (id: String, token: String) {
            let token = "EAAG-probe-\(UUID().uuidString)"
            let new = NewToken(
                project: project,
                issuedAt: now - .seconds(10 * 86_400),
                expiresAt: now + .seconds(50 * 86_400)
            )
            return (try fixture.inventory.add(token: token, new).id, token)
        }

        func record(_ id: String) throws -> TokenRecord { try fixture.inventory.token(id: id) }

        func ran(_ hook: String, for id: String) -> Bool {
            FileManager.default.fileExists(atPath: "\(hookRecord)/\(id).\(hook)")
        }

        /// Each token's `probe_at` (nil: none), read under the seam: no record carries it.
        func probeTimes() throws -> [String: Int64?] {
            var times: [String: Int64?] = [:]
            switch fixture.backend {
            case .sqlite:
                let rows = try fixture.sqlite.database { try Row.fetchAll($0, sql: "SELECT id, probe_at FROM tokens") }
                for row in rows { times[row["id"] as String] = row["probe_at"] as Int64? }
            case .postgres:
                let text = try TestPostgres.sql(fixture.location, "SELECT id, probe_at FROM tokens")
                for line in text.split(separator: "\n") {
                    let fields = line.split(separator: "|", omittingEmptySubsequences: false)
                    times[String(fields[0])] = Int64(fields[1])
                }
            }
            return times
        }

        /// Sets `id`'s probe time, or its state, under the seam.
        func set(_ id: String, probeAt time: UnixTime? = nil, state: TokenState? = nil) throws {
            let assignment = time.map { "probe_at = \($0.seconds)" } ?? "state = '\(state!.rawValue)'"
            try fixture.underTheSeam("UPDATE tokens SET \(assignment) WHERE id = '\(id)'")
        }

        /// Takes `id`'s lease for another process, as its own engine would.
        func holdElsewhere(_ id: String) throws {
            let now = now
            let held = try fixture.store.write {
                try $0.claimLease(id: id, owner: "other:2", until: now + .seconds(300), now: now, onlyIfDue: false)
            }
            #expect(held != nil)
        }

        func dueProbes(limit: Int = 100) throws -> [String] {
            let now = now
            return try fixture.store.read { try $0.dueProbeIDs(now: now, limit: limit) }
        }

        func nextProbe() throws -> UnixTime? {
            let now = now
            return try fixture.store.read { try $0.nextProbe(now: now) }
        }
    }

    @Test(arguments: TestBackend.all)
    func anAcceptedProbeSetsLastProbedAtAndTheNextProbeOneIntervalLater(_ backend: TestBackend) async throws {
        let h = try Harness(backend, probeEvery: .seconds(7 * 86_400))
        let (id, token) = try h.add()
        let before = try h.record(id)
        #expect(before.lastProbedAt == nil)
        h.fixture.clock.advance(by: .seconds(90))

        let results = try await h.engine.probe(ids: [id])

        #expect(results.map(\.id) == [id] && results.first?.result == .accepted && h.prober.calls(token) == 1)
        var after = try h.record(id)
        #expect(after.lastProbedAt == h.now)
        // Nothing else moved: not the value, the schedule, the state, nor `version`.
        after.lastProbedAt = nil
        #expect(after == before && h.exchange.calls("p1") == 0)
        #expect(try h.fixture.auditEvents().map(\.event) == ["added"], "an accepted probe is not audited")
        #expect(try h.probeTimes()[id] == .some(h.now.seconds + 7 * 86_400))
        #expect(try await h.engine.nextProbe() == h.now + .seconds(7 * 86_400))
        h.fixture.clock.advance(by: .seconds(7 * 86_400 - 1))
        #expect(try h.dueProbes().isEmpty)
        h.fixture.clock.advance(by: .seconds(1))
        #expect(try h.dueProbes() == [id])
    }

    @Test(arguments: TestBackend.all)
    func withoutProbeEveryAnAcceptedProbeLeavesNoProbeTime(_ backend: TestBackend) async throws {
        let h = try Harness(backend)
        let (id, _) = try h.add()
        #expect(try await h.engine.probe(ids: [id]).first?.result == .accepted)
        #expect(try h.record(id).lastProbedAt == h.now)
        #expect(try h.probeTimes()[id] == .some(nil))
        #expect(try await h.engine.nextProbe() == nil)
        #expect(try await h.engine.probeDue(shouldContinue: { true }) == 0)
        #expect(h.prober.total == 1, "the daemon probes nothing without policy.probe_every")
    }

    @Test(arguments: TestBackend.all)
    func aRefusedProbeMovesTheTokenToNeedsReauthOnceWithTheReauthHook(_ backend: TestBackend) async throws {
        let h = try Harness(backend, probeEvery: .seconds(86_400))
        let (id, token) = try h.add()
        let (other, _) = try h.add()
        h.prober.fail(token, with: Self.refused)
        let before = try h.record(id)
        h.fixture.clock.advance(by: .seconds(30))

        let results = try await h.engine.probe(ids: [id])

        #expect(results.first?.result == .refused(code: "invalid_facebook_token"))
        let after = try h.record(id)
        #expect(after.state == .needsReauth)
        #expect(after.version == before.version + 1, "one outcome written: version moves by exactly one")
        #expect(after.lastError?.code == "invalid_facebook_token")
        #expect(after.lastProbedAt == h.now)
        #expect(after.leaseOwner == nil)
        // Not a refresh: no exchange, the same value, never marked refreshed.
        #expect(h.exchange.calls("p1") == 0)
        #expect(after.sealedToken == before.sealedToken && after.fingerprint == before.fingerprint)
        #expect(after.lastRefreshedAt == nil)
        #expect(after.expiresAt == before.expiresAt)
        let event = try #require(try h.fixture.auditEvents().last)
        #expect(event.event == "needs_reauth" && event.tokenID == id)
        #expect(
            event.detail.contains(#""note":"probe: Sinch's wabaDetails refused the token (invalid_facebook_token)""#)
        )
        #expect(!event.detail.contains(token))
        #expect(h.ran("reauth", for: id), "the reauth hook did not run")
        #expect(!h.ran("deploy", for: id))
        let hookEnvironment = try String(contentsOfFile: "\(h.hookRecord)/\(id).reauth", encoding: .utf8)
        #expect(hookEnvironment.contains("invalid_facebook_token"))
        // The other token of the project is untouched, and the refused one is no longer probed.
        #expect(try h.record(other).state == .active)
        #expect(try h.probeTimes()[id] == .some(nil))
        let again = try await h.engine.probe(ids: [id])
        #expect(again.first?.result == .skipped)
        #expect(h.prober.calls(token) == 1)
        #expect(try h.record(id).version == after.version)
    }

    @Test(arguments: TestBackend.all, [0, 1, 2])
    func anAnswerWithoutAVerdictChangesNothingButTheNextProbeTime(_ backend: TestBackend, which: Int) async throws {
        let error = Self.noVerdict[which]
        let h = try Harness(backend, probeEvery: .seconds(86_400))
        let (id, token) = try h.add()
        let (other, _) = try h.add()
        h.prober.fail(token, with: error)
        let before = try h.record(id)
        let otherBefore = try h.record(other)
        h.fixture.clock.advance(by: .seconds(45))

        let results = try await h.engine.probe(ids: [id])

        #expect(results.first?.result == .failed(errorClass: error.errorClass.rawValue, code: error.code))
        var after = try h.record(id)
        #expect(
            after.lastProbedAt == nil,
            "\(error.errorClass): a probe without an answer set last_probed_at (the contract: nothing changes)"
        )
        after.lastProbedAt = before.lastProbedAt
        #expect(after == before, "\(error.errorClass): the token changed")
        #expect(try h.record(other) == otherBefore, "\(error.errorClass) paused the project's other tokens")
        #expect(try h.fixture.auditEvents().map(\.event) == ["added", "added"])
        #expect(!h.ran("reauth", for: id))
        // Asked again an interval later, not at once.
        #expect(try h.probeTimes()[id] == .some(h.now.seconds + 86_400))
        #expect(try h.dueProbes().isEmpty)
    }

    @Test(arguments: TestBackend.all)
    func withoutProbeEveryAFailedProbeChangesNothingAtAll(_ backend: TestBackend) async throws {
        let h = try Harness(backend)
        let (id, token) = try h.add()
        h.prober.fail(token, with: Self.noVerdict[0])
        let before = try h.record(id)
        #expect(
            try await h.engine.probe(ids: [id]).first?.result
                == .failed(errorClass: "transient", code: "service_unavailable")
        )
        #expect(try h.record(id) == before)
        #expect(try h.probeTimes()[id] == .some(nil))
    }

    @Test(arguments: TestBackend.all)
    func aTokenAnotherOwnerHoldsIsSkippedAndNotAsked(_ backend: TestBackend) async throws {
        let h = try Harness(backend, probeEvery: .seconds(86_400))
        let (held, heldToken) = try h.add()
        let (free, freeToken) = try h.add()
        try h.holdElsewhere(held)
        let before = try h.record(held)

        let results = try await h.engine.probe(ids: [held, free])

        #expect(
            Dictionary(uniqueKeysWithValues: results.map { ($0.id, $0.result) }) == [held: .skipped, free: .accepted]
        )
        #expect(h.prober.calls(heldToken) == 0)
        #expect(h.prober.calls(freeToken) == 1)
        let after = try h.record(held)
        #expect(after == before)
        #expect(after.leaseOwner == "other:2", "the other owner's lease was taken or let go")
    }

    @Test(arguments: TestBackend.all)
    func scheduleProbesSpreadsFirstTimesOverTheIntervalForActiveTokensWithoutOne(_ backend: TestBackend) throws {
        let h = try Harness(backend)
        let fresh = try (0..<24).map { _ in try h.add().id }
        let others = try (0..<4).map { _ in try h.add().id }
        let (scheduled, retrying, reauth, expired) = (others[0], others[1], others[2], others[3])
        try h.set(scheduled, probeAt: h.now + .seconds(5_000))
        try h.set(retrying, state: .retrying)
        try h.set(reauth, state: .needsReauth)
        try h.set(expired, state: .expired)
        let now = h.now
        let every: Int64 = 1_000

        let count = try h.fixture.store.write { try $0.scheduleProbes(now: now, every: .seconds(every)) }

        #expect(count == fresh.count)
        let times = try h.probeTimes()
        let spread = fresh.compactMap { times[$0] ?? nil }
        #expect(spread.count == fresh.count, "a fresh active token got no probe time")
        for time in spread {
            #expect(time >= now.seconds && time < now.seconds + every, "\(time - now.seconds)s out of [0, 1000)")
        }
        #expect(Set(spread).count > 1, "the first probes are not spread")
        #expect(times[scheduled] == .some(now.seconds + 5_000), "a probe time was replaced")
        for id in [retrying, reauth, expired] {
            #expect(times[id] == .some(nil), "a \(id) token not active was scheduled")
        }
        // A second call has nothing left to schedule.
        #expect(try h.fixture.store.write { try $0.scheduleProbes(now: now, every: .seconds(every)) } == 0)
    }

    @Test(arguments: TestBackend.all)
    func dueProbeIDsAreTheDueActiveUnheldTokensSoonestFirst(_ backend: TestBackend) throws {
        let h = try Harness(backend)
        let ids = try (0..<6).map { _ in try h.add().id }
        // ids[5] has no probe time: never due.
        let (late, early, future, held, reauth) = (ids[0], ids[1], ids[2], ids[3], ids[4])
        try h.set(late, probeAt: h.now - .seconds(10))
        try h.set(early, probeAt: h.now - .seconds(100))
        try h.set(future, probeAt: h.now + .seconds(10))
        try h.set(held, probeAt: h.now - .seconds(200))
        try h.set(reauth, probeAt: h.now - .seconds(300))
        try h.holdElsewhere(held)
        try h.set(reauth, state: .needsReauth)

        #expect(try h.dueProbes() == [early, late])
        #expect(try h.dueProbes(limit: 1) == [early])
        // A probe time of exactly now is due; the held token is due again once its lease is over.
        h.fixture.clock.advance(by: .seconds(10))
        #expect(try h.dueProbes() == [early, late, future])
        h.fixture.clock.advance(by: .seconds(300))
        #expect(try h.dueProbes() == [held, early, late, future])
    }

    @Test(arguments: TestBackend.all)
    func nextProbeIsTheEarliestProbeTimeOfAnActiveUnheldToken(_ backend: TestBackend) async throws {
        let h = try Harness(backend, probeEvery: .seconds(3_600))
        #expect(try h.nextProbe() == nil)
        let ids = try (0..<4).map { _ in try h.add().id }
        #expect(try h.nextProbe() == nil, "tokens without a probe time have no next probe")
        try h.set(ids[0], probeAt: h.now + .seconds(900))
        try h.set(ids[1], probeAt: h.now + .seconds(400))
        try h.set(ids[2], probeAt: h.now + .seconds(100))
        try h.set(ids[3], probeAt: h.now + .seconds(200))
        try h.holdElsewhere(ids[2])
        try h.set(ids[3], state: .retrying)

        #expect(try h.nextProbe() == h.now + .seconds(400))
        #expect(try await h.engine.nextProbe() == h.now + .seconds(400))
        // A time already past is still the next one (the daemon wakes for it at once), and the
        // held token counts again once its lease is over.
        h.fixture.clock.advance(by: .seconds(500))
        #expect(try h.nextProbe() == h.now - .seconds(400))
    }

    @Test(arguments: TestBackend.all)
    func theDaemonsProbePassSchedulesThenProbesWhatIsDueAndCountsRefusals(_ backend: TestBackend) async throws {
        let every: Int64 = 600
        let h = try Harness(backend, probeEvery: .seconds(every))
        let good = try (0..<3).map { _ in try h.add() }
        let revoked = try h.add()
        h.prober.fail(revoked.token, with: Self.refused)
        let start = h.now

        // The first pass gives each token a time in [now, now + every) and probes only those due
        // (a time of exactly now: rarely any).
        let firstRefused = try await h.engine.probeDue(shouldContinue: { true })
        let first = Dictionary(uniqueKeysWithValues: (good + [revoked]).map { ($0.id, h.prober.calls($0.token)) })
        for (id, time) in try h.probeTimes() where id != revoked.id || first[id] == 0 {
            let time = try #require(time, "\(id) got no probe time")
            let expected = first[id] == 1 ? start.seconds + every : start.seconds
            #expect(time >= expected && time < start.seconds + every + (first[id] == 1 ? 1 : 0))
        }

        // An interval later every one was due: each asked once more, the revoked one refused.
        h.fixture.clock.advance(by: .seconds(every))
        let refused = try await h.engine.probeDue(shouldContinue: { true }) + firstRefused
        #expect(refused == 1)
        #expect(try h.record(revoked.id).state == .needsReauth)
        #expect(h.prober.calls(revoked.token) == 1)
        for token in good {
            #expect(h.prober.calls(token.token) == first[token.id]! + 1)
            let record = try h.record(token.id)
            #expect(record.state == .active && record.lastProbedAt == h.now)
            #expect(try h.probeTimes()[token.id] == .some(h.now.seconds + every))
        }
        #expect(h.exchange.calls("p1") == 0, "a probe pass refreshed a token")
        // Nothing is due again until the next interval.
        let total = h.prober.total
        #expect(try h.dueProbes().isEmpty)
        #expect(try await h.engine.probeDue(shouldContinue: { true }) == 0)
        #expect(h.prober.total == total)
    }
}
