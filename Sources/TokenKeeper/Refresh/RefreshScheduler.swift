import Logging
import ServiceLifecycle
import Synchronization
import WallTime

/// The daemon's loop: refresh what is due (and, under `policy.probe_every`, probe what is due),
/// then sleep on one wall-clock timer until the earliest `refresh_at` or probe time, at most
/// `maxSleep` (so tokens another process added, and clock jumps, are noticed). Nothing polls
/// while nothing is due.
///
/// On graceful shutdown (SIGTERM, SIGINT) it stops claiming, lets the refreshes in flight
/// commit, and returns; cancelled (the grace period is over, or a sibling service failed), it
/// returns too. A pass that fails (the database locked past its timeout) is logged and retried
/// with a growing wait; the daemon keeps running and `/healthz` reports the failure meanwhile.
package final class RefreshScheduler: Service, Sendable {
    private let engine: RefreshEngine
    private let clock: any WallClock
    private let maxSleep: Duration
    private let logger: Logger
    private let timer = WallClockTimer()
    private let stopping = Atomic<Bool>(false)
    private let state = Mutex(State())

    private struct State {
        var running = false
        /// The last failed pass, and how many attempts had committed by then.
        var lastFailure: (message: String, attempts: Int)?
    }

    package init(engine: RefreshEngine, clock: any WallClock, maxSleep: Duration = .seconds(60), logger: Logger) {
        self.engine = engine
        self.clock = clock
        self.maxSleep = maxSleep
        self.logger = logger
    }

    /// Nil while the loop runs and its last pass went through, or a refresh has committed since
    /// the pass that failed (the next pass is refreshing: a pass over many tokens takes a while);
    /// else what is wrong (`/healthz`).
    package var problem: String? {
        let attempts = engine.activity.attempts
        return state.withLock { state in
            guard state.running else { return "the refresh scheduler is not running" }
            guard let failure = state.lastFailure, attempts <= failure.attempts else { return nil }
            return "the last refresh pass failed: \(failure.message)"
        }
    }

    package func run() async throws {
        state.withLock { $0.running = true }
        defer { state.withLock { $0.running = false } }
        await withTaskCancellationOrGracefulShutdownHandler {
            var failures = 0
            while shouldContinue() {
                var progress = false
                do {
                    var summary = try await engine.runOnce(shouldContinue: { [self] in shouldContinue() })
                    // Under `policy.probe_every`, the probes due, sharing the rate limit.
                    summary.needsReauth += try await engine.probeDue(shouldContinue: { [self] in shouldContinue() })
                    progress = summary.madeProgress
                    failures = 0
                    state.withLock { $0.lastFailure = nil }
                    if summary.due > 0 { await log(summary) }
                } catch {
                    guard shouldContinue() else { break }
                    failures += 1
                    let failed = (message: "\(error)", attempts: engine.activity.attempts)
                    state.withLock { $0.lastFailure = failed }
                    logger.error("refresh pass failed; trying again", metadata: ["error": "\(error)"])
                }
                guard shouldContinue() else { break }
                await timer.sleep(until: await nextWake(progress: progress, failures: failures))
            }
        } onCancelOrGracefulShutdown: { [self] in
            logger.info("stopping: letting refreshes in flight finish")
            stopping.store(true, ordering: .relaxed)
            timer.wake()
        }
    }

    /// Ends the current sleep (or the next one, when none is under way) at once: another process
    /// added or rescheduled tokens.
    package func wake() { timer.wake() }

    private func shouldContinue() -> Bool { !stopping.load(ordering: .relaxed) && !Task.isCancelled }

    /// The next claimable `refresh_at`, at most `maxSleep` ahead. A pass that moved nothing sleeps
    /// at least a second, a guard against a loop that finds work it cannot do (a token due but
    /// refused its claim). After failures, 2, 4, 8... seconds.
    private func nextWake(progress: Bool, failures: Int) async -> UnixTime {
        let now = clock.now
        if failures > 0 { return now + min(.seconds(1 << min(failures, 6)), maxSleep) }
        let refresh = (try? await engine.nextRefresh()) ?? nil
        let probe = (try? await engine.nextProbe()) ?? nil
        let next = [refresh, probe].compactMap { $0 }.min()
        var deadline = next.map { min($0, now + maxSleep) } ?? now + maxSleep
        if !progress { deadline = max(deadline, now + .seconds(1)) }
        return deadline
    }

    /// The pass's counts, and after a pass that appended to the audit log its new head
    /// (`audit.seq`, `audit.hash`): a log shipper anchors it off this host with no extra tooling.
    private func log(_ summary: RefreshSummary) async {
        var metadata: Logger.Metadata = [
            "due": "\(summary.due)", "refreshed": "\(summary.refreshed)", "failed": "\(summary.failed)",
            "needs_reauth": "\(summary.needsReauth)",
        ]
        if summary.madeProgress, let head = try? await engine.auditHead() {
            metadata["audit.seq"] = "\(head.seq)"
            metadata["audit.hash"] = "\(head.hash)"
        }
        logger.info("refresh pass", metadata: metadata)
    }
}
