import ArgumentParser
import TokenKeeper

extension TokenKeeperCommand {
    struct Probe: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "probe",
            abstract: "Ask Sinch whether Meta still accepts stored tokens, without refreshing them.",
            discussion: """
                Each live token is sent to Sinch's wabaDetails. A token Meta refuses \
                (invalid_facebook_token) goes needs_reauth at once, audited, and the reauth hook runs; \
                any other answer changes nothing. Paced by limits.rate, limits.concurrency at once. \
                Exits 1 when a token was refused, 69 when a probe got no answer (and none was refused), \
                else 0.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Argument(help: "Token ids.")
        var ids: [String] = []

        @Flag(help: "Every live token.")
        var all = false

        @Option(help: "Every live token of this Sinch project.")
        var project: String?

        @Flag(help: "Print one JSON object.")
        var json = false

        func validate() throws {
            let choices = [!ids.isEmpty, all, project != nil].filter { $0 }.count
            if choices != 1 { throw ValidationError("give token ids, --all or --project P, one of the three") }
        }

        func run() throws {
            var report = ProbeReport([])
            try reportingErrors {
                let engine = try options.context().refreshEngine(dryRun: false, logger: Diagnostics.logger())
                // The engine's own store: one open, not a second for the selection.
                let inventory = engine.inventory
                var selected: [String] = []
                if ids.isEmpty {
                    // Live tokens only: one that needs a person has nothing left to probe.
                    try inventory.forEachToken(matching: Inventory.Query(project: project)) { record in
                        if TokenState.live.contains(record.state) { selected.append(record.id) }
                    }
                } else {
                    // An unknown id fails before anything is called.
                    for id in ids { _ = try inventory.token(id: id) }
                    selected = ids
                }
                report = ProbeReport(try runBlocking { [selected] in try await engine.probe(ids: selected) })
                Console.out(json ? try JSONOutput.encode(report) : report.text)
            }
            if report.refused > 0 { throw ExitCode(1) }
            if report.failed > 0 { throw ExitCode(TokenKeeperError.Code.sinchUnavailable.exitCode) }
        }
    }
}
