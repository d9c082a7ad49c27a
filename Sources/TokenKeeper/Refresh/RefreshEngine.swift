import Foundation
import Logging
import SinchProvisioning
import Synchronization

/// Refreshes due tokens: claim, exchange outside any transaction, commit with the audit row.
///
/// Bounded concurrency (`limits.concurrency`), a per-project request rate (`limits.rate`), and a
/// project paused by throttling or refused credentials is left alone for the rest of the pass.
package final class RefreshEngine: Sendable {
    let ledger: RefreshLedger
    /// The store's commands (`refresh ID` looks up its tokens, a rehearsal opens them, `probe`
    /// selects its tokens).
    package let inventory: Inventory
    /// Who holds this engine's leases (`host:pid:nonce`): the owner of its refreshes in the logs.
    package var owner: String { ledger.owner }
    let committer: GroupCommitter
    let exchanger: any TokenExchanging
    /// Asks Sinch whether Meta still accepts a token (`probe`); nil in a dry run.
    let prober: (any TokenProbing)?
    /// `policy.probe_every`: how often the daemon probes each active token; nil: never.
    package let probeEvery: Duration?
    /// When this engine last gave unscheduled tokens a probe time (``probeDue(batch:shouldContinue:)``).
    let probesScheduledAt = Mutex<UnixTime?>(nil)
    let machine: RefreshStateMachine
    let limits: TokenKeeperConfiguration.Limits
    let logger: Logger
    let hooks: HookRunner?
    let gate: ProjectGate
    let fleetRate: FleetRate
    let slots: CallSlots
    /// The longest one call to Sinch can take: a lease must last that long when the call starts.
    let callBudget: Duration
    /// Its last pass and attempt, for its heartbeat.
    package let activity = RefresherActivity()

    /// How long a claim holds: a crashed holder's tokens wait that long.
    package static let defaultLease: Duration = .seconds(300)

    /// The longest a refresh's call to Sinch can take with `http.timeout` at `httpTimeout`: a bearer
    /// token, the exchange, and on a 401 a renewed bearer and one retry, plus a margin.
    package static func callBudget(httpTimeout: Duration) -> Duration { httpTimeout * 4 + .seconds(10) }

    package init(
        inventory: Inventory,
        exchanger: any TokenExchanging,
        prober: (any TokenProbing)? = nil,
        probeEvery: Duration? = nil,
        limits: TokenKeeperConfiguration.Limits,
        owner: String,
        lease: Duration = defaultLease,
        callBudget: Duration = callBudget(httpTimeout: .seconds(30)),
        hooks: HookRunner? = nil,
        logger: Logger
    ) {
        self.callBudget = callBudget
        self.hooks = hooks
        self.inventory = inventory
        ledger = RefreshLedger(inventory: inventory, owner: owner, lease: lease)
        committer = GroupCommitter(ledger: ledger)
        slots = CallSlots(limits.concurrency)
        fleetRate = FleetRate(rate: limits.rate, clock: inventory.clock) {
            [ledger] project, window, limit, wanted, from in
            try await offCooperativePool {
                try ledger.store.writeStatement { store in
                    try store.takeRatePlaces(
                        project: project,
                        window: window,
                        limit: limit,
                        wanted: wanted,
                        from: from,
                        keeping: (window - 120)...(window + 120)
                    )
                }
            }
        }
        gate = ProjectGate()
        self.exchanger = exchanger
        self.prober = prober
        self.probeEvery = probeEvery
        machine = RefreshStateMachine(policy: inventory.policy)
        self.limits = limits
        self.logger = logger
    }

    /// The database the engine refreshes.
    package var store: any TokenStore { ledger.store }

    /// `host:pid:nonce`, the lease owner and audit actor of a refreshing process. The random
    /// nonce keeps owners apart across hosts: two containers may share a host name and both run
    /// as pid 1, and a fleet on one database must never take another's lease for its own.
    package static func processOwner() -> String {
        let nonce = String(UInt32.random(in: .min ... .max), radix: 16)
        return
            "\(ProcessInfo.processInfo.hostName):\(getpid()):\(String(repeating: "0", count: 8 - nonce.count))\(nonce)"
    }

    /// Refreshes every token due now (cron mode), `batch` ids read at a time; with `dryRun`, only
    /// counts them (and, with `runHooks`, rehearses the deploy hook on each). `shouldContinue` is
    /// asked before each claim: a shutting-down daemon stops claiming and lets what is in flight
    /// finish.
    package func runOnce(
        dryRun: Bool = false,
        runHooks: Bool = false,
        batch: Int = 10_000,
        shouldContinue: @escaping @Sendable () -> Bool = { true }
    ) async throws -> RefreshSummary {
        var summary = RefreshSummary()
        guard !dryRun else {
            guard runHooks else {
                // A count, not every id: a dry run over ten million tokens answers in the index.
                summary.due = try await onLedger { ledger in
                    try ledger.store.read { try $0.countDueTokens(now: ledger.clock.now) }
                }
                return summary
            }
            let ids = try await onLedger { try $0.due(now: $0.clock.now, limit: .max) }
            summary.due = ids.count
            try await rehearseDeployHook(ids, into: &summary)
            return summary
        }
        do {
            while shouldContinue() {
                let ids: [String]
                do {
                    ids = try await onLedger { try $0.due(now: $0.clock.now, limit: batch) }
                } catch {
                    throw RefreshInterrupted(summary: summary, error: error)
                }
                var pass = RefreshSummary()
                pass.due = ids.count
                do {
                    try await refreshAll(ids, into: &pass, shouldContinue: shouldContinue)
                } catch {
                    summary.add(pass)
                    throw RefreshInterrupted(summary: summary, error: error)
                }
                summary.add(pass)
                // A short batch was the last; one where nothing moved (all held elsewhere) would repeat.
                guard ids.count == batch, pass.madeProgress else { break }
            }
        } catch {
            activity.passEnded(at: inventory.clock.now, error: error)
            throw error
        }
        activity.passEnded(at: inventory.clock.now, error: nil)
        return summary
    }

    /// The audit chain's newest row, read off the cooperative pool.
    package func auditHead() async throws -> AuditLog.Head {
        try await offCooperativePool { [inventory] in try inventory.auditHead() }
    }

    /// When the next token this process could claim comes due; nil when none is live.
    package func nextRefresh() async throws -> UnixTime? {
        try await onLedger { try $0.nextDue(now: $0.clock.now) }
    }

    /// Runs the ledger's SQLite work on a dispatch thread: the cooperative pool's few threads
    /// also resume every finished Sinch call, and must never wait out a database lock.
    func onLedger<T: Sendable>(_ work: @escaping @Sendable (RefreshLedger) throws -> T) async throws -> T {
        try await offCooperativePool { [ledger] in try work(ledger) }
    }

    /// Refreshes the tokens `ids` now (`refresh ID...`). Without `force` a token still inside
    /// its failure backoff or younger than `min_age` is skipped; a token that needs a person
    /// (`needs_reauth`, `expired`) always is. An unknown id fails before anything is called.
    package func refresh(
        ids: [String],
        force: Bool = false,
        dryRun: Bool = false,
        runHooks: Bool = false
    ) async throws -> RefreshSummary {
        let now = ledger.clock.now
        var summary = RefreshSummary()
        var eligible: [String] = []
        for id in ids {
            let record = try inventory.token(id: id)
            let live = TokenState.live.contains(record.state)
            let backingOff = record.state == .retrying && record.refreshAt > now
            let young = now < record.issuedAt + inventory.policy.minAge
            if live, force || (!backingOff && !young) {
                eligible.append(id)
            } else {
                summary.skipped += 1
            }
        }
        summary.due = eligible.count
        guard !dryRun else {
            if runHooks { try await rehearseDeployHook(eligible, into: &summary) }
            return summary
        }
        do {
            try await refreshAll(eligible, into: &summary, force: force, onDemand: true)
        } catch {
            throw RefreshInterrupted(summary: summary, error: error)
        }
        return summary
    }

    /// Claims `ids` a chunk at a time (one transaction a chunk) and refreshes the claimed
    /// records, `limits.concurrency` at once. When `shouldContinue` turns false, the records
    /// claimed but not started are released. The first error (the database failing) stops the
    /// claims; the refreshes in flight end and are counted in `summary`, then the error is thrown,
    /// so the caller can say what was committed before it.
    private func refreshAll(
        _ ids: [String],
        into summary: inout RefreshSummary,
        force: Bool = false,
        onDemand: Bool = false,
        shouldContinue: @escaping @Sendable () -> Bool = { true }
    ) async throws {
        // Small enough that a process killed mid-batch holds few leases until they lapse (the
        // claimed tokens wait that long), large enough to share the claim transaction.
        let chunk = limits.concurrency * 2
        // More refreshes than call slots: those waiting on their commit or hooks do not hold up
        // the next call.
        let width = limits.concurrency * 4
        var unclaimed = ids[...]
        var claimed: [TokenRecord] = []
        var failure: (any Error)?
        // On demand (`refresh ID`) a token need not be due; from the schedule it must still be.
        func nextRecord() async -> TokenRecord? {
            while failure == nil, claimed.isEmpty, !unclaimed.isEmpty, shouldContinue() {
                let ids = Array(unclaimed.prefix(chunk))
                unclaimed = unclaimed.dropFirst(ids.count)
                do {
                    claimed = try await onLedger {
                        try $0.claim(ids, now: $0.clock.now, onlyIfDue: !onDemand)
                    }.reversed()
                } catch {
                    failure = error
                    return nil
                }
                summary.skipped += ids.count - claimed.count
            }
            return failure == nil && shouldContinue() ? claimed.popLast() : nil
        }
        let continuing: @Sendable () -> Bool = shouldContinue
        await withTaskGroup(of: Result<Attempt, any Error>.self) { group in
            func start(_ record: TokenRecord) {
                group.addTask {
                    do {
                        return .success(try await self.attempt(record, force: force, shouldContinue: continuing))
                    } catch {
                        return .failure(error)
                    }
                }
            }
            for _ in 0..<width {
                guard let record = await nextRecord() else { break }
                start(record)
            }
            while let result = await group.next() {
                switch result {
                case .success(.refreshed): summary.refreshed += 1
                case .success(.notExtended): summary.notExtended += 1
                case .success(.failed): summary.failed += 1
                case .success(.needsReauth): summary.needsReauth += 1
                case .success(.skipped): summary.skipped += 1
                case .failure(let error): if failure == nil { failure = error }
                }
                if let record = await nextRecord() { start(record) }
            }
        }
        // Claimed but never started (a stop, an error): let go at once rather than at lease end.
        if !claimed.isEmpty {
            try? await onLedger { [ids = claimed.map(\.id)] in try $0.release(ids) }
        }
        if let failure { throw failure }
    }

    /// `--dry-run --run-hooks`: hands each token that would be refreshed, as it is now, to the
    /// deploy hook with `TOKENKEEPER_DRY_RUN=1`, so an operator can try the hook; nothing is
    /// claimed, called or written. A hook that fails counts as `failed`.
    private func rehearseDeployHook(_ ids: [String], into summary: inout RefreshSummary) async throws {
        guard let hooks, hooks.isConfigured(.deploy) else { return }
        for id in ids {
            let record = try inventory.token(id: id)
            let token = try inventory.unsealed(record)
            guard let failure = await hooks.run(.deploy, record: record, token: token, error: nil, dryRun: true)
            else { continue }
            summary.failed += 1
            logger.warning(
                "hook failed (dry run)",
                metadata: ["token.id": "\(id)", "hook": "deploy", "reason": "\(failure)"]
            )
        }
    }
}
