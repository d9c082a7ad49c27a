import Foundation
import Logging
import ServiceLifecycle
import TokenKeeper

/// `tokenkeeper daemon`: the refresh scheduler under swift-service-lifecycle until SIGTERM or
/// SIGINT, then a graceful stop: nothing new is claimed and refreshes in flight commit; those
/// still waiting on Sinch after `grace` are cancelled and their leases released. Exit 0.
package enum Daemon {
    package static let defaultGrace: Duration = .seconds(30)

    /// - Parameter metrics: where to serve `/metrics` and `/healthz`, if anywhere.
    package static func run(
        context: CommandContext,
        grace: Duration = defaultGrace,
        metrics: MetricsEndpoint.Address? = nil,
        logger: Logger
    ) async throws {
        let engine = try context.refreshEngine(dryRun: false, logger: logger)
        let scheduler = RefreshScheduler(engine: engine, clock: context.clock, logger: logger)
        // A token another host adds, due in seconds, wakes this daemon at once (PostgreSQL's
        // LISTEN); the timer's 60 s cap stays the guard when nothing is heard.
        let watch = engine.store.watchChanges { scheduler.wake() }
        defer { watch?.cancel() }
        // Services stop in reverse order: the scheduler (last) stops claiming first, while
        // /healthz still answers.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let metrics {
            // Before the scheduler runs, so its first refresh is counted.
            let registry = MetricsEndpoint.bootstrapRegistry()
            let endpoint = MetricsEndpoint(
                registry: registry,
                store: engine.store,
                clock: context.clock,
                perToken: context.configuration.perTokenSeries
            ) { scheduler.problem }
            services.append(.init(service: endpoint.service(at: metrics, logger: logger)))
        }
        let heartbeat = Heartbeat(engine: engine, kind: .daemon, clock: context.clock)
        services.append(.init(service: HeartbeatService(heartbeat: heartbeat, logger: logger)))
        services.append(.init(service: scheduler))
        var configuration = ServiceGroupConfiguration(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        // Past the grace period the group cancels the scheduler: exchanges still waiting end as
        // `cancelled`, which releases their leases without charging the tokens.
        configuration.maximumGracefulShutdownDuration = grace
        let group = ServiceGroup(configuration: configuration)
        logger.info("daemon started", metadata: ["owner": "\(engine.owner)"])
        try await group.run()
        logger.info("daemon stopped")
    }
}

/// Writes the daemon's heartbeat at start and every ``Heartbeat/interval`` until shutdown, idle
/// or not: `status`, `check` and the liveness metrics tell a stopped daemon from a quiet one.
struct HeartbeatService: Service {
    let heartbeat: Heartbeat
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var failing = false
            var first = true
            while !Task.isCancelled {
                do {
                    try await offCooperativePool { try heartbeat.beat() }
                    if failing { logger.notice("heartbeat written again") }
                    failing = false
                } catch {
                    // The scheduler's own pass meets the same database and reports it (/healthz).
                    if !failing { logger.warning("heartbeat not written", metadata: ["error": "\(error)"]) }
                    failing = true
                }
                if first {
                    // The beat after the first pass, so `status` and the liveness metrics show a
                    // pass within seconds of a start rather than a minute; a second apart at most.
                    first = false
                    for _ in 0..<60 where !heartbeat.activity.hasPassed { try await Task.sleep(for: .seconds(1)) }
                    if heartbeat.activity.hasPassed { continue }
                }
                try await Task.sleep(for: Heartbeat.interval)
            }
        }
        // The last beat, with the pass the scheduler finished while stopping.
        try? await offCooperativePool { try heartbeat.beat() }
    }
}
