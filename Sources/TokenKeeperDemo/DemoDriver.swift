import ServiceLifecycle
import Synchronization
import TokenKeeper

/// The demo's script, run beside the refresh scheduler: revokes a token at the start, throttles a
/// project a third of the way in, and updates the live view once a second. Returns when the
/// duration is up, or at once on a graceful shutdown (Ctrl-C, SIGTERM).
final class DemoDriver: Service, Sendable {
    private struct Live {
        var monitor: DemoMonitor
        var view: DemoView
        var throttled: String?
        var interrupted = false
    }

    private let sandbox: DemoSandbox
    private let duration: Duration
    private let started: ContinuousClock.Instant
    private let live: Mutex<Live>

    init(sandbox: DemoSandbox, monitor: DemoMonitor, view: DemoView, started: ContinuousClock.Instant) {
        self.sandbox = sandbox
        self.duration = view.duration
        self.started = started
        live = Mutex(Live(monitor: monitor, view: view))
    }

    /// Whether Ctrl-C or SIGTERM ended the demo before its duration.
    var interrupted: Bool { live.withLock { $0.interrupted } }

    /// The time since the demo started.
    var elapsed: Duration { ContinuousClock.now - started }

    func run() async throws {
        // Revoked before the scheduler started (see `Demo`); said here, at +0s.
        let doomed = sandbox.doomed
        let due = doomed.refreshAt.seconds(since: sandbox.context.clock.now)
        say([
            "injected: Meta revokes \(doomed.id)'s token (\(doomed.projectID)), as when a customer removes the app; "
                + "its refresh, due \(due > 0 ? "in \(due)s" : "now"), will find it dead"
        ])
        while !Task.isCancelled {
            let elapsed = ContinuousClock.now - started
            if Task.isShuttingDownGracefully {
                live.withLock { $0.interrupted = true }
                break
            }
            if elapsed >= duration { break }
            try tick(elapsed)
            let next = min(started + .seconds(elapsed.wholeSeconds + 1), started + duration)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(until: next) }
        }
        let reason = interrupted ? "interrupted" : "time is up"
        say(["\(reason): the scheduler stops claiming and lets refreshes in flight finish"])
    }

    /// The events committed since the last update (those of the shutdown too) and the final
    /// status, left on screen; returns the monitor with the demo's counts.
    func finish() throws -> DemoMonitor {
        let elapsed = ContinuousClock.now - started
        return try live.withLock { live in
            let narration = try live.monitor.newEvents()
            live.view.finish(elapsed: elapsed, narration: narration, status: try live.monitor.status())
            return live.monitor
        }
    }

    private func tick(_ elapsed: Duration) throws {
        try live.withLock { live in
            var narration = try live.monitor.newEvents()
            let status = try live.monitor.status()
            if live.throttled == nil, elapsed >= duration / 3 {
                // The project due next, so the throttled period starts within seconds.
                let project = status.nextProject ?? DemoSandbox.projects[0]
                let calls = DemoSandbox.throttledCalls(duration: duration)
                sandbox.throttle(project: project, calls: calls)
                live.throttled = project
                let which = calls == 1 ? "next refresh call gets" : "next \(calls) refresh calls get"
                narration.append(
                    "injected: Sinch throttles project \(project): its \(which) HTTP 429 with "
                        + "Retry-After: \(DemoSandbox.retryAfterSeconds)"
                )
            }
            live.view.update(elapsed: elapsed, narration: narration, status: status)
        }
    }

    private func say(_ lines: [String]) {
        let elapsed = ContinuousClock.now - started
        live.withLock { $0.view.say(lines, elapsed: elapsed) }
    }
}
