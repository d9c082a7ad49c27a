import ArgumentParser
import TokenKeeper

extension TokenKeeperCommand {
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Monitoring check: OK (0), WARNING (1), CRITICAL (2) or UNKNOWN (3).",
            discussion: """
                CRITICAL when a token expires within --crit, is expired or needs_reauth; WARNING when \
                one expires within --warn. Needs no master key.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Warn when a token expires within this duration.", transform: Parse.duration)
        var warn: Duration = .seconds(14 * 86_400)

        @Option(help: "Critical when a token expires within this duration.", transform: Parse.duration)
        var crit: Duration = .seconds(3 * 86_400)

        @Flag(help: "Print one JSON object.")
        var json = false

        func validate() throws {
            if crit > warn { throw ValidationError("--crit must not be longer than --warn") }
        }

        func run() throws {
            let report: ExpiryCheck.Report
            do {
                report = try ExpiryCheck(warn: warn, crit: crit).run(on: options.context().inventory())
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
