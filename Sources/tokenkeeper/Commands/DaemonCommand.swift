import ArgumentParser
import Foundation
import TokenKeeper
import TokenKeeperServer

extension TokenKeeperCommand {
    struct DaemonCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "daemon",
            abstract: "Refresh tokens as they come due, timer-driven, until SIGTERM or SIGINT.",
            discussion: """
                Stops gracefully on SIGTERM/SIGINT: nothing new is claimed, refreshes in flight commit; \
                those still waiting on Sinch after --grace are cancelled and their leases released. Exit 0.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "How long refreshes in flight may finish after SIGTERM/SIGINT (a duration).")
        var grace = DurationText.format(Daemon.defaultGrace)

        @Option(help: "Serve /metrics (Prometheus) and /healthz at HOST:PORT, as in 127.0.0.1:9464.")
        var metrics: String?

        func run() throws {
            try reportingErrors {
                Signals.unblockTermination()
                let grace = try DurationText.parse(grace, key: "--grace")
                let address = try metrics.map(MetricsEndpoint.Address.init(parsing:))
                let context = try options.context()
                let logger = Diagnostics.logger(defaultLevel: .info)
                try runBlocking {
                    try await Daemon.run(context: context, grace: grace, metrics: address, logger: logger)
                }
            }
        }
    }
}
