import Foundation
import Logging
import SinchProvisioning
import Synchronization

/// What one pass of refreshes did (`run-once --json`, `refresh --json`).
public struct RefreshSummary: Sendable, Equatable, Encodable {
    public var due = 0
    public var refreshed = 0
    public var failed = 0
    public var needsReauth = 0
    public var skipped = 0

    public init() {}

    mutating func add(_ other: RefreshSummary) {
        due += other.due
        refreshed += other.refreshed
        failed += other.failed
        needsReauth += other.needsReauth
        skipped += other.skipped
    }

    enum CodingKeys: String, CodingKey {
        case due, refreshed, failed, skipped
        case needsReauth = "needs_reauth"
    }
}

/// Refreshes due tokens: claim, exchange outside any transaction, commit with the audit row.
///
/// Bounded concurrency (`limits.concurrency`), a per-project request rate (`limits.rate`), and a
/// project paused by throttling or refused credentials is left alone for the rest of the pass.
public final class RefreshEngine: Sendable {
    private let ledger: RefreshLedger
    private let committer: GroupCommitter
    private let exchanger: any TokenExchanging
    private let machine: RefreshStateMachine
    private let limits: TokenKeeperConfiguration.Limits
    private let logger: Logger
    private let hooks: HookRunner?
    private let pacing = Mutex<[String: ContinuousClock.Instant]>([:])
    private let throttle = Mutex<[String: ProjectThrottle]>([:])

    public init(
        inventory: Inventory,
        exchanger: any TokenExchanging,
        limits: TokenKeeperConfiguration.Limits,
        owner: String,
        lease: Duration = .seconds(300),
        hooks: HookRunner? = nil,
        logger: Logger
    ) {
        self.hooks = hooks
        ledger = RefreshLedger(inventory: inventory, owner: owner, lease: lease)
        committer = GroupCommitter(ledger: ledger)
        self.exchanger = exchanger
        machine = RefreshStateMachine(policy: inventory.policy)
        self.limits = limits
        self.logger = logger
    }

    /// The database the engine refreshes.
    public var store: TokenStore { ledger.inventory.store }

    /// `host:pid`, the lease owner and audit actor of a refreshing process.
    public static func processOwner() -> String {
        "\(ProcessInfo.processInfo.hostName):\(getpid())"
    }

    /// Refreshes every token due now (cron mode), `batch` ids read at a time; with `dryRun`, only
    /// counts them (and, with `runHooks`, rehearses the deploy hook on each). `shouldContinue` is
    /// asked before each claim: a shutting-down daemon stops claiming and lets what is in flight
    /// finish.
    public func runOnce(
        dryRun: Bool = false,
        runHooks: Bool = false,
        batch: Int = 10_000,
        shouldContinue: @escaping @Sendable () -> Bool = { true }
    ) async throws -> RefreshSummary {
        var summary = RefreshSummary()
        guard !dryRun else {
            let ids = try ledger.due(now: ledger.inventory.clock.now, limit: .max)
            summary.due = ids.count
            if runHooks { try await rehearseDeployHook(ids, into: &summary) }
            return summary
        }
        while shouldContinue() {
            let ids = try ledger.due(now: ledger.inventory.clock.now, limit: batch)
            var pass = RefreshSummary()
            pass.due = ids.count
            try await refreshAll(ids, into: &pass, shouldContinue: shouldContinue)
            summary.add(pass)
            // A short batch was the last; one where nothing moved (all held elsewhere) would repeat.
            guard ids.count == batch, pass.refreshed + pass.failed + pass.needsReauth > 0 else { break }
        }
        return summary
    }

    /// The earliest `refresh_at` of a live token, from the partial index; nil when there is none.
    public func nextRefresh() throws -> UnixTime? {
        try ledger.inventory.store.read { db in
            try UnixTime.fetchOne(
                db,
                sql: "SELECT MIN(refresh_at) FROM tokens WHERE state IN ('active', 'retrying')"
            )
        }
    }

    /// Refreshes the tokens `ids` now (`refresh ID...`). Without `force` a token still inside
    /// its failure backoff or younger than `min_age` is skipped; a token that needs a person
    /// (`needs_reauth`, `expired`) always is. An unknown id fails before anything is called.
    public func refresh(
        ids: [String],
        force: Bool = false,
        dryRun: Bool = false,
        runHooks: Bool = false
    ) async throws -> RefreshSummary {
        let inventory = ledger.inventory
        let now = inventory.clock.now
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
        try await refreshAll(eligible, into: &summary, force: force, onDemand: true)
        return summary
    }

    /// Claims `ids` a chunk at a time (one transaction a chunk) and refreshes the claimed
    /// records, `limits.concurrency` at once. When `shouldContinue` turns false, the records
    /// claimed but not started are released.
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
        var unclaimed = ids[...]
        var claimed: [TokenRecord] = []
        defer { try? ledger.release(claimed.map(\.id)) }
        // On demand (`refresh ID`) a token need not be due; from the schedule it must still be.
        func nextRecord() async throws -> TokenRecord? {
            while claimed.isEmpty, !unclaimed.isEmpty, shouldContinue() {
                let ids = Array(unclaimed.prefix(chunk))
                unclaimed = unclaimed.dropFirst(ids.count)
                claimed = try await offCooperativePool { [ledger] in
                    try ledger.claim(ids, now: ledger.inventory.clock.now, onlyIfDue: !onDemand)
                }.reversed()
                summary.skipped += ids.count - claimed.count
            }
            return shouldContinue() ? claimed.popLast() : nil
        }
        try await withThrowingTaskGroup(of: Result.self) { group in
            for _ in 0..<limits.concurrency {
                guard let record = try await nextRecord() else { break }
                group.addTask { try await self.refresh(record, force: force) }
            }
            while let result = try await group.next() {
                switch result {
                case .refreshed: summary.refreshed += 1
                case .failed: summary.failed += 1
                case .needsReauth: summary.needsReauth += 1
                case .skipped: summary.skipped += 1
                }
                if let record = try await nextRecord() {
                    group.addTask { try await self.refresh(record, force: force) }
                }
            }
        }
    }

    enum Result: Sendable { case refreshed, failed, needsReauth, skipped }

    /// One claimed token through exchange and commit.
    func refresh(_ record: TokenRecord, force: Bool = false) async throws -> Result {
        let clock = ledger.inventory.clock
        let id = record.id
        if !force, throttle.withLock({ $0[record.projectID]?.isPaused(at: clock.now) ?? false }) {
            try ledger.release([id])
            return .skipped
        }
        let facts = RefreshStateMachine.Token(
            state: record.state,
            failures: record.failures,
            issuedAt: record.issuedAt,
            expiresAt: record.expiresAt
        )
        var generator = SystemRandomNumberGenerator()
        if record.expiresAt <= clock.now {
            let decision = machine.expire(facts, now: clock.now)
            let outcome = try ledger.prepare(
                decision,
                for: record,
                newToken: nil,
                detail: AuditDetail(),
                now: clock.now
            )
            if try await committer.commit(outcome) { RefreshMetrics.record(.expired, latency: nil) }
            return .failed
        }
        // The claim returned the record: open it rather than read it again.
        let current = try ledger.inventory.unsealed(record)
        await pace(record.projectID)
        let started = ContinuousClock.now
        let outcome: RefreshStateMachine.Outcome
        var newToken: String?
        do {
            let token = try await exchanger.refresh(
                token: current,
                project: record.projectID,
                businessManager: record.businessManager
            )
            newToken = token
            outcome = .refreshed(sameValue: token == current)
        } catch {
            outcome = .failed(error)
        }
        let elapsed = ContinuousClock.now - started
        let latency = Int(elapsed.milliseconds)
        let now = clock.now
        let strikes = throttle.withLock { $0[record.projectID]?.strikesBefore(now) ?? 0 }
        switch machine.decide(facts, outcome: outcome, now: now, projectStrikes: strikes, using: &generator) {
        case .release:
            try ledger.release([id])
            return .skipped
        case .commit(let decision):
            throttle.withLock { projects in
                if let until = decision.pauseProjectUntil {
                    projects[record.projectID, default: ProjectThrottle()].pause(until: until, now: now)
                } else if decision.state == .active {
                    projects[record.projectID] = nil
                }
            }
            var detail = AuditDetail(attempt: record.failures + 1, latencyMs: latency)
            if case .failed(let error) = outcome {
                detail.httpStatus = error.status
                detail.errorClass = decision.lastError?.errorClass
                detail.errorCode = error.code
            }
            let committed = try await committer.commit(
                ledger.prepare(decision, for: record, newToken: newToken, detail: detail, now: now)
            )
            // Built only for a line that is logged: run-once logs warnings and up.
            func about(_ extra: Logger.Metadata = [:]) -> Logger.Metadata {
                var metadata: Logger.Metadata = [
                    "token.id": "\(id)", "sinch.project": "\(record.projectID)", "latency_ms": "\(latency)",
                ]
                if let error = decision.lastError {
                    metadata["error.code"] = "\(error.code)"
                    metadata["error.class"] = "\(error.errorClass)"
                }
                return metadata.merging(extra) { $1 }
            }
            guard committed else {
                logger.warning("lease lost before commit; another process's outcome stands", metadata: about())
                return .skipped
            }
            RefreshMetrics.record(decision.state, latency: elapsed)
            for failure in await runHooks(decision, record: record, newToken: newToken, outcome: outcome) {
                logger.warning(
                    "hook failed",
                    metadata: about(["hook": "\(failure.hook.rawValue)", "reason": "\(failure.reason)"])
                )
            }
            switch decision.state {
            case .active:
                logger.info("refreshed", metadata: about())
                return .refreshed
            case .needsReauth:
                logger.error("token refused by Meta: needs a new Embedded Signup", metadata: about())
                return .needsReauth
            default:
                logger.warning("refresh failed", metadata: about())
                return .failed
            }
        }
    }

    /// Runs the decision's hooks after the commit; a failure is audited `hook_failed` (and
    /// returned, to be logged) and never undoes the refresh.
    private func runHooks(
        _ decision: RefreshStateMachine.Decision,
        record: TokenRecord,
        newToken: String?,
        outcome: RefreshStateMachine.Outcome
    ) async -> [(hook: RefreshStateMachine.Hook, reason: String)] {
        guard let hooks else { return [] }
        var failures: [(hook: RefreshStateMachine.Hook, reason: String)] = []
        var updated = record
        updated.expiresAt = decision.expiresAt
        var errorText: String?
        if case .failed(let error) = outcome { errorText = error.description }
        for hook in decision.hooks where hooks.isConfigured(hook) {
            guard
                let failure = await hooks.run(
                    hook,
                    record: updated,
                    token: hook == .deploy ? newToken : nil,
                    error: errorText
                )
            else { continue }
            failures.append((hook, failure))
            let inventory = ledger.inventory
            let now = inventory.clock.now
            try? inventory.store.write { db in
                _ = try inventory.audit.append(
                    db,
                    event: .hookFailed,
                    tokenID: record.id,
                    detail: AuditDetail(project: record.projectID, note: failure),
                    at: now
                )
            }
        }
        return failures
    }

    /// `--dry-run --run-hooks`: hands each token that would be refreshed, as it is now, to the
    /// deploy hook with `TOKENKEEPER_DRY_RUN=1`, so an operator can try the hook; nothing is
    /// claimed, called or written. A hook that fails counts as `failed`.
    private func rehearseDeployHook(_ ids: [String], into summary: inout RefreshSummary) async throws {
        guard let hooks, hooks.isConfigured(.deploy) else { return }
        let inventory = ledger.inventory
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

    /// Waits until the project may send another request (`limits.rate` per second).
    private func pace(_ project: String) async {
        let interval = Duration.seconds(1) / limits.rate
        let slot = pacing.withLock { slots -> ContinuousClock.Instant in
            let now = ContinuousClock.now
            let slot = max(now, slots[project] ?? now)
            slots[project] = slot + interval
            return slot
        }
        if slot > ContinuousClock.now { try? await Task.sleep(until: slot) }
    }
}

/// A project's pause after throttling or refused credentials, and how many pauses in a row it
/// has had (each one longer, like a token's backoff). A success in the project clears it.
struct ProjectThrottle: Sendable, Equatable {
    var until = UnixTime(seconds: 0)
    var strikes = 0

    func isPaused(at now: UnixTime) -> Bool { until > now }

    /// The strikes that size a pause starting at `now`: answers that arrive during a pause (the
    /// requests in flight when it began) belong to the strike that started it.
    func strikesBefore(_ now: UnixTime) -> Int { isPaused(at: now) ? max(strikes - 1, 0) : strikes }

    mutating func pause(until end: UnixTime, now: UnixTime) {
        if !isPaused(at: now) { strikes += 1 }
        until = max(until, end)
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

extension TextOutput {
    /// `run-once` and `refresh` without `--json`.
    public static func refreshSummary(_ summary: RefreshSummary) -> String {
        "due \(summary.due), refreshed \(summary.refreshed), failed \(summary.failed), "
            + "needs_reauth \(summary.needsReauth), skipped \(summary.skipped)"
    }
}
