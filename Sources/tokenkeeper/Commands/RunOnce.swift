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
            let (dryRun, runHooks) = (rehearsal.dryRun, rehearsal.runHooks)
            let (context, engine) = try reportingSetupErrors {
                let context = try options.context()
                return (context, try context.refreshEngine(dryRun: dryRun, logger: Diagnostics.logger()))
            }
            let summary = try reportingRefreshErrors(json: json) {
                guard !dryRun else {
                    return try runBlocking { try await engine.runOnce(dryRun: true, runHooks: runHooks) }
                }
                // A heartbeat at the start and at the end, as `status` and `check --stale` read them;
                // one that cannot be written must not stop the refreshes (their own errors tell why).
                let heartbeat = Heartbeat(engine: engine, kind: .runOnce, clock: context.clock)
                try? heartbeat.beat()
                defer { try? heartbeat.beat() }
                return try runBlocking { try await engine.runOnce() }
            }
            if summary.failed + summary.needsReauth > 0 { throw ExitCode(1) }
        }
    }
}
