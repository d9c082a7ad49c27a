import Synchronization

/// What this process holds back per project: the pause after throttling, refused credentials or
/// timeouts in a row. The pause is also written to the store (``RefreshLedger``) for other
/// processes; this is the in-process half, which stops calls of this pass at once. (The pace of
/// calls, `limits.rate`, is ``FleetRate``'s.)
final class ProjectGate: Sendable {
    private let throttles = Mutex<[String: ProjectThrottle]>([:])

    /// Whether `record`'s project is paused for it at `now`: a pause never holds a token past
    /// its last safe moment (it is tried then, and its failure reported, rather than left to die).
    func isPaused(_ record: TokenRecord, at now: UnixTime) -> Bool {
        guard now < RenewalPolicy.lastSafeMoment(expiresAt: record.expiresAt) else { return false }
        return throttles.withLock { $0[record.projectID]?.isPaused(at: now) ?? false }
    }

    /// Counts an answer for `project` (a timeout, or anything else, which starts the count over)
    /// and returns what sizes the decision about it: the project's pauses in a row, and its
    /// timeouts in a row before this answer.
    func count(_ project: String, timedOut: Bool, at now: UnixTime) -> (strikes: Int, timeouts: Int) {
        throttles.withLock { projects in
            let throttle = projects[project]
            projects[project, default: ProjectThrottle()].timeouts = timedOut ? (throttle?.timeouts ?? 0) + 1 : 0
            return (throttle?.strikesBefore(now) ?? 0, throttle?.timeouts ?? 0)
        }
    }

    /// Pauses `project` until `until` (a longer pause running is kept); true when this started
    /// a pause (one that was not running already).
    func pause(_ project: String, until: UnixTime, at now: UnixTime) -> Bool {
        throttles.withLock { Self.pause(&$0, project, until: until, at: now) }
    }

    private static func pause(
        _ projects: inout [String: ProjectThrottle],
        _ project: String,
        until: UnixTime,
        at now: UnixTime
    ) -> Bool {
        let wasPaused = projects[project]?.isPaused(at: now) ?? false
        projects[project, default: ProjectThrottle()].pause(until: until, now: now)
        return !wasPaused
    }

    /// Carries out `decision` for `project`: pauses it, or clears its record after a success.
    /// True when this started a pause (one that was not running already).
    func apply(_ decision: RefreshStateMachine.Decision, to project: String, at now: UnixTime) -> Bool {
        throttles.withLock { projects -> Bool in
            if let until = decision.pauseProjectUntil {
                return Self.pause(&projects, project, until: until, at: now)
            } else if decision.state == .active {
                projects[project] = nil
            }
            return false
        }
    }
}
