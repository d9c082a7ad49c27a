import Foundation
import Synchronization
import WallTime

/// What a refreshing process did last, for its heartbeat: when its last pass ended and how,
/// when it last attempted a refresh, and the class of its last error. Kept in memory by the
/// engine; ``Heartbeat`` writes it to the store.
package final class RefresherActivity: Sendable {
    private struct State {
        var passEndedAt: UnixTime?
        var passOK: Bool?
        var attemptedAt: UnixTime?
        var attempts = 0
        var errorClass: String?
    }

    private let state = Mutex(State())

    package init() {}

    /// A refresh attempt committed at `now`; `errorClass` when it failed.
    func attempted(at now: UnixTime, errorClass: String?) {
        state.withLock { state in
            state.attemptedAt = now
            state.attempts += 1
            if let errorClass { state.errorClass = errorClass }
        }
    }

    /// A pass ended at `now`: it went through, or it failed with `error`.
    func passEnded(at now: UnixTime, error: (any Error)?) {
        state.withLock { state in
            state.passEndedAt = now
            state.passOK = error == nil
            if let error { state.errorClass = Self.errorClass(of: error) }
        }
    }

    /// How many refresh attempts have committed since this process started.
    package var attempts: Int { state.withLock { $0.attempts } }

    /// Whether a pass has ended since this process started.
    package var hasPassed: Bool { state.withLock { $0.passEndedAt != nil } }

    /// A pass's error as a class, never its message: a ``TokenKeeperError``'s code.
    static func errorClass(of error: any Error) -> String {
        let inner = (error as? RefreshInterrupted)?.error ?? error
        return (inner as? TokenKeeperError)?.code.description ?? "internal"
    }

    /// `identity` with this activity: its last pass is the last one that ended or, during a
    /// long pass, its last attempt, whichever is later.
    func apply(to identity: RefresherHeartbeat) -> RefresherHeartbeat {
        var beat = identity
        state.withLock { state in
            let times = [state.passEndedAt, state.attemptedAt].compactMap { $0 }
            beat.lastPassAt = times.max()
            beat.lastPassOK = state.passOK ?? (state.attemptedAt == nil ? nil : true)
            beat.lastErrorClass = state.errorClass
        }
        return beat
    }
}

/// Writes a refreshing process's heartbeat (``RefresherHeartbeat``) to the store: a daemon at
/// start and every ``interval``, a `run-once` at its start and end.
package struct Heartbeat: Sendable {
    /// How often a daemon beats, idle or not.
    package static let interval: Duration = .seconds(60)
    /// Refreshers last seen longer ago than this are forgotten at the next beat of any.
    package static let forgetAfter: Duration = .seconds(7 * 86_400)

    let store: any TokenStore
    let clock: any WallClock
    package let activity: RefresherActivity
    let identity: RefresherHeartbeat

    package init(engine: RefreshEngine, kind: RefresherHeartbeat.Kind, clock: any WallClock) {
        store = engine.store
        self.clock = clock
        activity = engine.activity
        let now = clock.now
        identity = RefresherHeartbeat(
            owner: engine.owner,
            host: ProcessInfo.processInfo.hostName,
            pid: Int(getpid()),
            kind: kind,
            version: TokenKeeperVersion.current,
            startedAt: now,
            beatAt: now
        )
    }

    /// Writes the heartbeat as of now.
    package func beat() throws {
        let now = clock.now
        var beat = activity.apply(to: identity)
        beat.beatAt = now
        try store.write { try $0.recordHeartbeat(beat, forgetBefore: now - Self.forgetAfter) }
    }
}
