import Foundation
import Logging
import ServiceLifecycle

/// `tokenkeeper daemon`: the refresh scheduler under swift-service-lifecycle until SIGTERM or
/// SIGINT, then a graceful stop (refreshes in flight commit, nothing new is claimed), exit 0.
public enum Daemon {
    public static func run(context: CommandContext, logger: Logger) async throws {
        let engine = try context.refreshEngine(dryRun: false, logger: logger)
        let scheduler = RefreshScheduler(engine: engine, clock: context.clock, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: scheduler)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        logger.info("daemon started", metadata: ["owner": "\(RefreshEngine.processOwner())"])
        try await group.run()
        logger.info("daemon stopped")
    }
}
