import ArgumentParser
import Foundation
import TokenKeeper

extension TokenKeeperCommand {
    struct DaemonCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "daemon",
            abstract: "Refresh tokens as they come due, timer-driven, until SIGTERM or SIGINT.",
            discussion: "Stops gracefully: refreshes in flight commit, nothing new is claimed, exit 0."
        )

        @OptionGroup var options: GlobalOptions

        func run() throws {
            try reportingErrors {
                // A parent may have started us with these blocked (the mask survives exec).
                var signals = sigset_t()
                sigemptyset(&signals)
                sigaddset(&signals, SIGTERM)
                sigaddset(&signals, SIGINT)
                pthread_sigmask(SIG_UNBLOCK, &signals, nil)
                let context = try options.context()
                let logger = Diagnostics.logger()
                try runBlocking { try await Daemon.run(context: context, logger: logger) }
            }
        }
    }
}
