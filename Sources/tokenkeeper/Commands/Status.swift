import ArgumentParser
import TokenKeeper

extension TokenKeeperCommand {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract:
                "Show the store, its tokens by state, the next expiry and refresh, and every refresher's last pass.",
            discussion: """
                Refreshers are the daemons and run-once processes that wrote a heartbeat in the last \
                day. Needs no master key. Exits 0; for a verdict, use check.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Flag(help: "Print one JSON object.")
        var json = false

        func run() throws {
            try reportingErrors {
                let report = try StatusReport(inventory: options.context().inventory())
                Console.out(json ? try JSONOutput.encode(StatusJSON(report)) : report.text)
            }
        }
    }
}
