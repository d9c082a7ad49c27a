import ArgumentParser

/// `--dry-run [--run-hooks]` of `run-once` and `refresh`.
struct DryRunOptions: ParsableArguments {
    @Flag(help: "Show what would be refreshed; call nothing, change nothing.")
    var dryRun = false

    @Flag(
        help: """
            With --dry-run: hand each token that would be refreshed, as it is now, to the deploy hook \
            (TOKENKEEPER_DRY_RUN=1 in its environment), to try the hook. A failing hook counts as failed.
            """
    )
    var runHooks = false

    func validate() throws {
        if runHooks, !dryRun {
            throw ValidationError("--run-hooks goes with --dry-run (a real refresh always runs its hooks)")
        }
    }
}
