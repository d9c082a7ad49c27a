import Logging
import ServiceLifecycle
import Synchronization

/// The daemon's loop: refresh what is due, then sleep on one wall-clock timer until the
/// earliest `refresh_at`, at most `maxSleep` (so tokens another process added, and clock jumps,
/// are noticed). Nothing polls while nothing is due.
///
/// On graceful shutdown (SIGTERM, SIGINT) it stops claiming, lets the refreshes in flight
/// commit, and returns.
public final class RefreshScheduler: Service, Sendable {
    private let engine: RefreshEngine
    private let clock: any WallClock
    private let maxSleep: Duration
    private let logger: Logger
    private let timer = WallClockTimer()
    private let stopping = Atomic<Bool>(false)
    private let running = Atomic<Bool>(false)

    /// True from the start of ``run()`` until it returns or fails (`/healthz`).
    public var isRunning: Bool { running.load(ordering: .relaxed) }

    public init(engine: RefreshEngine, clock: any WallClock, maxSleep: Duration = .seconds(60), logger: Logger) {
        self.engine = engine
        self.clock = clock
        self.maxSleep = maxSleep
        self.logger = logger
    }

    public func run() async throws {
        running.store(true, ordering: .relaxed)
        defer { running.store(false, ordering: .relaxed) }
        try await withGracefulShutdownHandler {
            while !stopping.load(ordering: .relaxed) {
                let summary = try await engine.runOnce(shouldContinue: { [self] in
                    !stopping.load(ordering: .relaxed)
                })
                if summary.due > 0 {
                    logger.info(
                        "refresh pass",
                        metadata: [
                            "due": "\(summary.due)", "refreshed": "\(summary.refreshed)",
                            "failed": "\(summary.failed)", "needs_reauth": "\(summary.needsReauth)",
                        ]
                    )
                }
                guard !stopping.load(ordering: .relaxed) else { break }
                let now = clock.now
                var deadline = try engine.nextRefresh().map { min($0, now + maxSleep) } ?? now + maxSleep
                // Due tokens another process holds (or a paused project's) would spin the loop.
                if summary.due > 0, summary.refreshed + summary.failed + summary.needsReauth == 0 {
                    deadline = max(deadline, now + .seconds(1))
                }
                if deadline > now { await timer.sleep(until: deadline) }
            }
        } onGracefulShutdown: { [self] in
            logger.info("stopping: letting refreshes in flight finish")
            stopping.store(true, ordering: .relaxed)
            timer.wake()
        }
    }
}
