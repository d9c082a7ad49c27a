import ArgumentParser
import TokenKeeper

extension TokenKeeperCommand {
    struct Refresh: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "refresh",
            abstract: "Refresh the given tokens now, or every due one with --due.",
            discussion: """
                Without --force a token inside its failure backoff or younger than policy.min_age is \\
                skipped; needs_reauth and expired tokens always are (they need a new Embedded Signup). \\
                Exits 0 when every attempted refresh succeeded, 1 when one failed.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Argument(help: "Token ids.")
        var ids: [String] = []

        @Flag(help: "Refresh every token due now (as run-once).")
        var due = false

        @Flag(help: "Ignore the failure backoff and min_age (never needs_reauth).")
        var force = false

        @OptionGroup var rehearsal: DryRunOptions

        @Flag(help: "Print one JSON summary object.")
        var json = false

        func validate() throws {
            if due == !ids.isEmpty { throw ValidationError("give token ids or --due, one of the two") }
        }

        func run() throws {
            let (dryRun, runHooks) = (rehearsal.dryRun, rehearsal.runHooks)
            let engine = try reportingSetupErrors {
                try options.context().refreshEngine(dryRun: dryRun, logger: Diagnostics.logger())
            }
            let summary = try reportingRefreshErrors(json: json) {
                return try runBlocking { [due, ids, force] in
                    due
                        ? try await engine.runOnce(dryRun: dryRun, runHooks: runHooks)
                        : try await engine.refresh(ids: ids, force: force, dryRun: dryRun, runHooks: runHooks)
                }
            }
            if summary.failed + summary.needsReauth > 0 { throw ExitCode(1) }
        }
    }
}
