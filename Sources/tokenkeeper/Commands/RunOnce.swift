import ArgumentParser
import SinchProvisioning
import TokenKeeper

extension TokenKeeperCommand {
    struct RunOnce: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run-once",
            abstract: "Refresh every token due now, then exit (cron mode).",
            discussion: "Exits 0 when every attempted refresh succeeded or nothing was due, 1 when one failed."
        )

        @OptionGroup var options: GlobalOptions

        @Flag(help: "Count what is due; call nothing, change nothing.")
        var dryRun = false

        @Flag(help: "Print one JSON summary object.")
        var json = false

        func run() throws {
            var summary = RefreshSummary()
            try reportingErrors {
                let context = try options.context()
                let owner = RefreshEngine.processOwner()
                let inventory = try context.keyedInventory(actor: owner)
                let exchanger: any TokenExchanging =
                    dryRun ? NoExchange() : try context.configuration.sinchClient(logger: Diagnostics.logger())
                let engine = RefreshEngine(
                    inventory: inventory,
                    exchanger: exchanger,
                    limits: context.configuration.limits,
                    owner: owner,
                    logger: Diagnostics.logger()
                )
                summary = try runBlocking { [dryRun] in try await engine.runOnce(dryRun: dryRun) }
                Console.out(
                    json
                        ? try JSONOutput.encode(summary)
                        : "due \(summary.due), refreshed \(summary.refreshed), failed \(summary.failed), "
                            + "needs_reauth \(summary.needsReauth), skipped \(summary.skipped)"
                )
            }
            if summary.failed + summary.needsReauth > 0 { throw ExitCode(1) }
        }
    }
}

/// The exchanger of a dry run: it is never called.
private struct NoExchange: TokenExchanging {
    func refresh(token: String, project: String, businessManager: String?) async throws(SinchError) -> String {
        throw SinchError(.cancelled, status: nil, code: "dry_run", message: "a dry run calls nothing")
    }
}
