import Foundation
import GRDB

/// The refresh transaction's database steps (DESIGN.md "Refresh transaction"): find what is
/// due, claim it with a lease, and commit the outcome with its audit row, or let go.
struct RefreshLedger: Sendable {
    let inventory: Inventory
    /// Who holds leases taken here: `host:pid`.
    let owner: String
    /// How long a claim holds; a crashed holder's claims lapse after it.
    let lease: Duration

    /// Live tokens whose `refresh_at` has come and that nobody holds, soonest first.
    func due(now: UnixTime, limit: Int) throws -> [String] {
        try inventory.store.read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM tokens
                    WHERE state IN ('active', 'retrying') AND refresh_at <= ?
                      AND (lease_until IS NULL OR lease_until < ?)
                    ORDER BY refresh_at LIMIT ?
                    """,
                arguments: [now, now, limit]
            )
        }
    }

    /// Takes the lease on `id` if it is live and free (and, with `onlyIfDue`, still due); the
    /// record as claimed, or nil when another process holds it, already refreshed it since it
    /// was listed as due, or it is gone or no longer live.
    func claim(_ id: String, now: UnixTime, onlyIfDue: Bool = true) throws -> TokenRecord? {
        try inventory.store.write { db in
            // `refresh_at <= now` matters: a token another process refreshed (and released)
            // after we listed it is free again, but no longer due.
            try db.execute(
                sql: """
                    UPDATE tokens SET lease_owner = ?, lease_until = ?
                    WHERE id = ? AND state IN ('active', 'retrying')
                      AND (lease_until IS NULL OR lease_until < ?)
                      AND (refresh_at <= ? OR ?)
                    """,
                arguments: [owner, now + lease, id, now, now, !onlyIfDue]
            )
            guard db.changesCount == 1 else { return nil }
            return try TokenRecord.fetchOne(db, key: id)
        }
    }

    /// Lets go of `id` without changing anything else.
    func release(_ id: String) throws {
        try inventory.store.write { db in
            try db.execute(
                sql: "UPDATE tokens SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
                arguments: [id, owner]
            )
        }
    }

    /// Writes `decision` for the claimed `record` and its audit row in one transaction; false
    /// (nothing written) when the lease was lost meanwhile: the other holder's outcome stands.
    func commit(
        _ decision: RefreshStateMachine.Decision,
        for record: TokenRecord,
        newToken: String?,
        detail: AuditDetail,
        now: UnixTime
    ) throws -> Bool {
        let sealer = try inventory.requireSealer()
        let sealed = try newToken.map { try sealer.seal($0, id: record.id) }
        let fingerprint = newToken.map { sealer.fingerprint($0) }
        return try inventory.store.write { db in
            guard var current = try TokenRecord.fetchOne(db, key: record.id), current.leaseOwner == owner,
                current.version == record.version
            else { return false }
            if let sealed, let fingerprint {
                current.sealedToken = sealed
                current.fingerprint = fingerprint
                current.issuedAt = decision.issuedAt
                current.expiresAt = decision.expiresAt
                current.lastRefreshedAt = now
            }
            current.state = decision.state
            current.failures = decision.failures
            current.refreshAt = decision.refreshAt
            current.lastError = decision.lastError
            current.leaseOwner = nil
            current.leaseUntil = nil
            current.version += 1
            try current.update(db)
            var detail = detail
            detail.oldFingerprint = record.fingerprint
            detail.newFingerprint = fingerprint
            detail.project = record.projectID
            detail.note = decision.note
            if let until = decision.pauseProjectUntil {
                try pauseProject(db, record.projectID, until: until, now: now)
            }
            try inventory.audit.append(db, event: decision.event, tokenID: record.id, detail: detail, at: now)
            return true
        }
    }

    /// Moves the project's other live tokens that would come due before `until` to `until` (never
    /// into their last hour), so neither this process nor another one (cron, a second daemon)
    /// calls Sinch for the project meanwhile. Tokens another process holds are left to it; no
    /// token is charged a failure.
    private func pauseProject(_ db: Database, _ project: String, until: UnixTime, now: UnixTime) throws {
        try db.execute(
            sql: """
                UPDATE tokens SET refresh_at = MAX(refresh_at, MIN(?, expires_at - ?)), version = version + 1
                WHERE project_id = ? AND state IN ('active', 'retrying') AND refresh_at < ?
                  AND (lease_until IS NULL OR lease_until < ?)
                """,
            arguments: [until, RenewalPolicy.lastRetryMargin.wholeSeconds, project, until, now]
        )
    }
}
