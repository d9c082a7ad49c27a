import Logging
import SinchProvisioning

extension CommandContext {
    /// The refresh engine `run-once`, `refresh` and `daemon` share: the keyed store (audited as
    /// this process, `host:pid:nonce`), the Sinch client (none for a dry run, which calls nothing), the
    /// configured limits and hooks.
    package func refreshEngine(dryRun: Bool, logger: Logger) throws -> RefreshEngine {
        let owner = RefreshEngine.processOwner()
        // The store first: a database others may write is refused before a missing Sinch key.
        let inventory = try keyedInventory(actor: owner)
        let client = dryRun ? nil : try configuration.sinchClient(logger: logger)
        return RefreshEngine(
            inventory: inventory,
            exchanger: client ?? DryRunExchange(),
            prober: client,
            probeEvery: configuration.probeEvery,
            limits: configuration.limits,
            owner: owner,
            callBudget: RefreshEngine.callBudget(httpTimeout: configuration.httpTimeout),
            hooks: HookRunner(hooks: configuration.hooks),
            logger: logger
        )
    }
}

/// The exchanger of a dry run: the engine never calls it (a dry run only counts).
struct DryRunExchange: TokenExchanging {
    func refresh(token: String, project: String, businessManager: String?) async throws(SinchError) -> String {
        throw SinchError(.cancelled, status: nil, code: "dry_run", message: "a dry run calls nothing")
    }
}
