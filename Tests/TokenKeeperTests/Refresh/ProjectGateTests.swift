import Foundation
import Testing

@testable import TokenKeeper

/// The per-project gate in process: pauses, their strikes, timeouts in a row, the last safe moment.
@Suite struct ProjectGateTests {
    static let now = UnixTime(seconds: 1_795_600_800)

    static func record(project: String = "p1", expiresIn: Duration = .seconds(20 * 86_400)) -> TokenRecord {
        TokenRecord(
            id: "tk_000000000001",
            projectID: project,
            sealedToken: Data(),
            fingerprint: "0000000000000000",
            issuedAt: now - .seconds(40 * 86_400),
            expiresAt: now + expiresIn,
            refreshAt: now,
            state: .active,
            failures: 0,
            version: 1
        )
    }

    static func decision(pauseUntil: UnixTime?, state: TokenState = .retrying) -> RefreshStateMachine.Decision {
        RefreshStateMachine.Decision(
            state: state,
            failures: 0,
            issuedAt: now,
            expiresAt: now,
            refreshAt: now,
            lastError: nil,
            storesNewToken: false,
            event: .refreshFailed,
            note: nil,
            hooks: [],
            pauseProjectUntil: pauseUntil
        )
    }

    @Test func aPauseHoldsItsProjectOnlyAndStartsOnce() {
        let gate = ProjectGate()
        let until = Self.now + .seconds(60)
        #expect(gate.apply(Self.decision(pauseUntil: until), to: "p1", at: Self.now))
        #expect(!gate.apply(Self.decision(pauseUntil: until), to: "p1", at: Self.now), "already paused")
        #expect(gate.isPaused(Self.record(), at: Self.now))
        #expect(!gate.isPaused(Self.record(project: "p2"), at: Self.now))
        #expect(!gate.isPaused(Self.record(), at: until))
        // A success clears the project's record, strikes included.
        #expect(gate.count("p1", timedOut: false, at: until).strikes == 1)
        _ = gate.apply(Self.decision(pauseUntil: nil, state: .active), to: "p1", at: until)
        #expect(gate.count("p1", timedOut: false, at: until).strikes == 0)
    }

    @Test func aPauseNeverHoldsATokenAtItsLastSafeMoment() {
        let gate = ProjectGate()
        _ = gate.apply(Self.decision(pauseUntil: Self.now + .seconds(6 * 86_400)), to: "p1", at: Self.now)
        #expect(gate.isPaused(Self.record(expiresIn: .seconds(3_601)), at: Self.now))
        #expect(!gate.isPaused(Self.record(expiresIn: .seconds(3_600)), at: Self.now))
    }

    @Test func timeoutsAreCountedInARowAndAnyOtherAnswerStartsOver() {
        let gate = ProjectGate()
        #expect(gate.count("p1", timedOut: true, at: Self.now).timeouts == 0)
        #expect(gate.count("p1", timedOut: true, at: Self.now).timeouts == 1)
        #expect(gate.count("p1", timedOut: true, at: Self.now).timeouts == 2)
        #expect(gate.count("p1", timedOut: false, at: Self.now).timeouts == 3)
        #expect(gate.count("p1", timedOut: true, at: Self.now).timeouts == 0)
        #expect(gate.count("p2", timedOut: true, at: Self.now).timeouts == 0, "projects count apart")
    }
}
