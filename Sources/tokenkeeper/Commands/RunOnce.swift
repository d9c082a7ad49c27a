import ArgumentParser
import TokenKeeper

extension TokenKeeperCommand {
    struct RunOnce: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run-once",
            abstract: "Refresh every token due now, then exit (cron mode).",
            discussion: "Exits 0 when every attempted refresh succeeded or nothing was due, 1 when one failed."
        )

        @OptionGroup var options: GlobalOptions

        @OptionGroup var rehearsal: DryRunOptions

        @Flag(help: "Print one JSON summary object.")
        var json = false

        func run() throws {
            let summary = try reportingRefreshErrors(json: json) {
                let (dryRun, runHooks) = (rehearsal.dryRun, rehearsal.runHooks)
                let engine = try options.context().refreshEngine(dryRun: dryRun, logger: Diagnostics.logger())
                return try runBlocking { try await engine.runOnce(dryRun: dryRun, runHooks: runHooks) }
            }
            if summary.failed + summary.needsReauth > 0 { throw ExitCode(1) }
        }
    }
}
