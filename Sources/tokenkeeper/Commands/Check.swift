import ArgumentParser
import TokenKeeper

extension TokenKeeperCommand {
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Monitoring check: OK (0), WARNING (1), CRITICAL (2) or UNKNOWN (3).",
            discussion: """
                CRITICAL when a token expires within --crit, is expired or needs_reauth; WARNING when \
                one expires within --warn, or when the store has held tokens for longer than --stale and no \
                refresher (daemon or run-once) has completed a pass within it. Needs no master key.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Warn when a token expires within this duration.", transform: Parse.duration)
        var warn: Duration = .seconds(14 * 86_400)

        @Option(help: "Critical when a token expires within this duration.", transform: Parse.duration)
        var crit: Duration = .seconds(3 * 86_400)

        @Option(
            help: ArgumentHelp(
                "Warn when no refresher has completed a pass within this duration; 0 turns it off.",
                discussion: "Default: check.stale in the config, else 1h.",
                valueName: "duration"
            )
        )
        var stale: String?

        /// `--stale`, parsed: nil when not given, `.some(nil)` for `0` (or `0s`), as `check.stale`.
        private func staleLimit() throws -> Duration?? {
            guard let stale else { return nil }
            if stale == "0" { return .some(nil) }
            let limit = try Parse.duration(stale)
            return .some(limit == .zero ? nil : limit)
        }

        @Flag(help: "Print one JSON object.")
        var json = false

        func validate() throws {
            if crit > warn { throw ValidationError("--crit must not be longer than --warn") }
            _ = try staleLimit()
        }

        func run() throws {
            let report: ExpiryCheck.Report
            do {
                let context = try options.context()
                let stale = try staleLimit() ?? context.configuration.checkStale
                report = try ExpiryCheck(warn: warn, crit: crit, stale: stale).run(on: context.inventory())
            } catch let error as TokenKeeperError {
                // A monitoring system reads a failed check as UNKNOWN, with the reason on stdout.
                let status = ExpiryCheck.Status.unknown
                Console.out(
                    json
                        ? try JSONOutput.encode(["status": status.rawValue, "error": error.message])
                        : "TOKENKEEPER UNKNOWN - \(TextOutput.statusText(error.message))"
                )
                throw ExitCode(status.exitCode)
            }
            Console.out(json ? try JSONOutput.encode(CheckJSON(report)) : TextOutput.checkLine(report))
            if report.status != .ok { throw ExitCode(report.status.exitCode) }
        }
    }
}
