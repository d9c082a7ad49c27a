import Foundation
import WallTime

/// The refresh transaction's database steps (<doc:Architecture#Data-flow-one-refresh-in-the-daemon>): find what is
/// due, claim it with a lease, and commit the outcome with its audit row, or let go.
struct RefreshLedger: Sendable {
    let store: any TokenStore
    let audit: AuditLog
    /// Seals new tokens and opens claimed ones; nil for a dry run's ledger, which writes none.
    let sealer: TokenSealer?
    let clock: any WallClock
    /// Who holds leases taken here: `host:pid:nonce`.
    let owner: String
    /// How long a claim holds; a crashed holder's claims lapse after it.
    let lease: Duration

    init(
        store: any TokenStore,
        audit: AuditLog,
        sealer: TokenSealer?,
        clock: any WallClock,
        owner: String,
        lease: Duration
    ) {
        self.store = store
        self.audit = audit
        self.sealer = sealer
        self.clock = clock
        self.owner = owner
        self.lease = lease
    }

    /// The ledger over `inventory`'s store, audit log, sealer and clock.
    init(inventory: Inventory, owner: String, lease: Duration) {
        self.init(
            store: inventory.store,
            audit: inventory.audit,
            sealer: inventory.sealer,
            clock: inventory.clock,
            owner: owner,
            lease: lease
        )
    }

    private func requireSealer() throws -> TokenSealer {
        guard let sealer else { throw TokenKeeperError(.configuration, "refreshing needs the master key") }
        return sealer
    }

    /// The token value of a claimed `record`, for the call to Sinch.
    func open(_ record: TokenRecord) throws -> String {
        try requireSealer().open(record.sealedToken, id: record.id)
    }

    /// Live tokens whose `refresh_at` has come and that nobody holds, soonest first.
    /// The ids due at `now`. The store's key check comes with them: when another process
    /// rotated the key, the sealer reads the keyring again, so this pass seals under the new key.
    func due(now: UnixTime, limit: Int) throws -> [String] {
        let (ids, check) = try store.read { store in
            (try store.dueTokenIDs(now: now, limit: limit), sealer == nil ? nil : try store.keyCheck())
        }
        if let check { sealer?.follow(storeCheck: check) }
        return ids
    }

    /// The earliest `refresh_at` among live tokens nobody holds; nil when there is none. A token
    /// another process holds is left to it: its holder refreshes it, or its lease lapses and the
    /// next look (at most a minute on) finds it.
    func nextDue(now: UnixTime) throws -> UnixTime? {
        try store.read { try $0.nextRefresh(now: now) }
    }

    /// Takes the leases on those of `ids` that are live and free (and, with `onlyIfDue`, still
    /// due), in one transaction; the records as claimed. An id another process holds, already
    /// refreshed since it was listed as due, removed or no longer live is left out.
    func claim(_ ids: some Collection<String>, now: UnixTime, onlyIfDue: Bool = true) throws -> [TokenRecord] {
        guard !ids.isEmpty else { return [] }
        return try store.write { store in
            try store.claimLeases(ids: Array(ids), owner: owner, until: now + lease, now: now, onlyIfDue: onlyIfDue)
        }
    }

    /// Lets go of `ids` without changing anything else.
    func release(_ ids: some Collection<String>) throws {
        guard !ids.isEmpty else { return }
        try store.write { store in
            for id in ids { try store.releaseLease(id: id, owner: owner) }
        }
    }

    /// Extends the lease on `record` from `now`; false when it is no longer ours (it lapsed and
    /// another process claimed or refreshed the token).
    func renew(_ record: TokenRecord, now: UnixTime) throws -> Bool {
        try store.write { try $0.renewLease(id: record.id, owner: owner, version: record.version, until: now + lease) }
    }

    /// One claimed token's outcome, ready to write: the new token already sealed.
    struct Outcome: Sendable {
        var decision: RefreshStateMachine.Decision
        var record: TokenRecord
        var sealedToken: Data?
        var fingerprint: String?
        /// The audit row's detail, encoded before the transaction.
        var detailJSON = ""
        var now: UnixTime
    }

    /// Seals `newToken` (when the decision stores one) and encodes the audit detail for
    /// ``commit(_:)``, outside any transaction: the single writer does only the writing.
    func prepare(
        _ decision: RefreshStateMachine.Decision,
        for record: TokenRecord,
        newToken: String?,
        detail: AuditDetail,
        now: UnixTime
    ) throws -> Outcome {
        var outcome = Outcome(decision: decision, record: record, now: now)
        if decision.storesNewToken, let newToken {
            let sealer = try requireSealer()
            outcome.sealedToken = try sealer.seal(newToken, id: record.id)
            outcome.fingerprint = sealer.fingerprint(newToken)
        }
        var detail = detail
        if decision.event == .notExtended {
            detail.fingerprint = record.fingerprint
        } else {
            detail.oldFingerprint = record.fingerprint
            detail.newFingerprint = outcome.fingerprint
        }
        detail.project = record.projectID
        detail.note = decision.note
        outcome.detailJSON = try audit.encode(detail)
        return outcome
    }

    /// Writes each outcome (token, schedule, counters, lease cleared, version + 1) with its audit
    /// row, all in one transaction: one commit for many refreshes under load. An outcome whose
    /// lease was lost meanwhile writes nothing and is `false`: the other holder's outcome stands.
    ///
    /// New values are sealed under the store's key as the transaction reads it (and holds it:
    /// no `key rotate` moves it before this commits), so a rotation that began during the pass
    /// finds no value written after its sweep under the old key.
    func commit(_ outcomes: [Outcome]) throws -> [Bool] {
        try store.write { store in
            var tail = try store.auditTail()
            var outcomes = outcomes
            // Each value against the key that sealed it: this process may have followed a
            // rotation (its current key is the store's) after it sealed the value.
            if let sealer, outcomes.contains(where: { $0.sealedToken != nil }),
                let check = try store.lockKeyCheck(), let key = sealer.key(withCheck: check)
            {
                for index in outcomes.indices {
                    guard let sealed = outcomes[index].sealedToken else { continue }
                    let id = outcomes[index].record.id
                    if let fresh = try sealer.resealed(sealed, id: id, under: key) {
                        outcomes[index].sealedToken = fresh
                    }
                }
            }
            // The rows go in one call unless an outcome pauses its project: then one at a time,
            // so the pause moves the project's tokens after that outcome and before the next.
            let pauses = outcomes.contains { $0.decision.pauseProjectUntil != nil }
            let applied = pauses ? nil : try store.applyOutcomes(outcomes.map(write))
            return try outcomes.enumerated().map { index, outcome in
                let decision = outcome.decision
                let record = outcome.record
                let written = try applied?[index] ?? store.applyOutcome(write(outcome))
                guard written else { return false }
                if let until = decision.pauseProjectUntil {
                    // The project's other live tokens due before `until` move to it (never into
                    // their last hour), so neither this process nor another one (cron, a second
                    // daemon) calls Sinch for the project meanwhile. Tokens another process holds
                    // are left to it; no token is charged a failure, and `version` stays, so this
                    // process's own refreshes in flight still commit.
                    try store.postponeProject(
                        record.projectID,
                        until: until,
                        margin: RenewalPolicy.lastRetryMargin,
                        now: outcome.now,
                        owner: owner
                    )
                }
                try audit.append(
                    store,
                    after: &tail,
                    event: decision.event,
                    tokenID: record.id,
                    detailJSON: outcome.detailJSON,
                    at: outcome.now
                )
                return true
            }
        }
    }

    /// The row `outcome` writes: token, schedule, counters, under the claim's lease and version.
    private func write(_ outcome: Outcome) -> TokenOutcomeWrite {
        let decision = outcome.decision
        let record = outcome.record
        let stored = outcome.sealedToken != nil
        return TokenOutcomeWrite(
            id: record.id,
            owner: owner,
            version: record.version,
            sealedToken: outcome.sealedToken,
            fingerprint: outcome.fingerprint,
            issuedAt: stored ? decision.issuedAt : record.issuedAt,
            expiresAt: stored ? decision.expiresAt : record.expiresAt,
            lastRefreshedAt: stored ? outcome.now : nil,
            state: decision.state,
            failures: decision.failures,
            refreshAt: decision.refreshAt,
            lastError: decision.lastError
        )
    }

    /// Audits `hook_failed` for `record` with what went wrong (never a token): a hook's failure
    /// never undoes the refresh it followed.
    func recordHookFailure(_ failure: String, of record: TokenRecord) throws {
        let now = clock.now
        try store.write { store in
            _ = try audit.append(
                store,
                event: .hookFailed,
                tokenID: record.id,
                detail: AuditDetail(project: record.projectID, note: failure),
                at: now
            )
        }
    }
}
