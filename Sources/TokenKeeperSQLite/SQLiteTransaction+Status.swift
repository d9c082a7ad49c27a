import Foundation
import GRDB
import TokenKeeper

/// What `/metrics`, `status` and `check` read beyond counts: the per-token series a page at a
/// time, and the refreshers' heartbeats.
extension SQLiteTransaction {
    func tokenSeriesPage(
        refresh: Bool,
        scope: TokenSeriesScope,
        after cursor: TokenSeriesCursor?,
        limit: Int
    ) throws
        -> [TokenSeriesRow]
    {
        let select =
            "SELECT rowid, id, project_id, label, expires_at, \(refresh ? "refresh_at" : "expires_at") FROM tokens"
        let live = refresh ? " AND \(SQLiteSchema.liveCondition)" : ""
        let after = (cursor?.expiresAt ?? Int64.min, cursor?.position ?? Int64.min)
        let sql: String
        let arguments: StatementArguments
        switch scope {
        case .all:
            // The table's own order (rowid), read sequentially. `tokens` has a text primary key,
            // so its rowid is not an alias: a `VACUUM` during a scrape could renumber rows and
            // repeat or skip some in that scrape. tokenkeeper never vacuums.
            sql = "\(select) WHERE rowid > ?\(live) ORDER BY rowid LIMIT ?"
            arguments = [after.1, limit]
        case .expiringBy(let horizon):
            // The expiry index holds (expires_at, rowid): the row value resumes inside it.
            sql = """
                \(select) INDEXED BY tokens_expires_at
                WHERE expires_at <= ? AND (expires_at, rowid) > (?, ?)\(live) ORDER BY expires_at, rowid LIMIT ?
                """
            arguments = [horizon.seconds, after.0, after.1, limit]
        case .troubledAfter(let horizon):
            sql = """
                \(select) INDEXED BY tokens_troubled
                WHERE \(SQLiteSchema.troubledCondition) AND expires_at > ? AND (expires_at, rowid) > (?, ?)\(live)
                ORDER BY expires_at, rowid LIMIT ?
                """
            arguments = [horizon.seconds, after.0, after.1, limit]
        }
        return try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments).map { row in
            TokenSeriesRow(
                position: row[0],
                id: row[1],
                project: row[2],
                label: row[3],
                expiresAt: UnixTime(seconds: row[4]),
                value: UnixTime(seconds: row[5])
            )
        }
    }

    func earliestExpiry(_ states: TokenStates) throws -> UnixTime? {
        // In the expiry index's order: the first row in `states` is the answer.
        let condition = SQLiteSchema.condition(states).map { " WHERE \($0)" } ?? ""
        let sql = "SELECT expires_at FROM tokens INDEXED BY tokens_expires_at\(condition) ORDER BY expires_at LIMIT 1"
        return try Int64.fetchOne(db.cachedStatement(sql: sql)).map(UnixTime.init(seconds:))
    }

    func firstTokenAuditAt() throws -> UnixTime? {
        try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT at FROM audit WHERE token_id IS NOT NULL ORDER BY seq LIMIT 1")
        ).map(UnixTime.init(seconds:))
    }

    func refreshers(seenSince since: UnixTime) throws -> [RefresherHeartbeat] {
        let statement = try db.cachedStatement(
            sql: "SELECT * FROM refreshers WHERE beat_at >= ? ORDER BY beat_at DESC, owner"
        )
        return try Row.fetchAll(statement, arguments: [since.seconds]).map { row in
            let kind: String = row["kind"]
            return RefresherHeartbeat(
                owner: row["owner"],
                host: row["host"],
                pid: row["pid"],
                kind: RefresherHeartbeat.Kind(rawValue: kind) ?? .daemon,
                version: row["version"],
                startedAt: UnixTime(seconds: row["started_at"]),
                beatAt: UnixTime(seconds: row["beat_at"]),
                lastPassAt: (row["last_pass_at"] as Int64?).map(UnixTime.init(seconds:)),
                lastPassOK: row["last_pass_ok"],
                lastErrorClass: row["last_error_class"]
            )
        }
    }

    func recordHeartbeat(_ beat: RefresherHeartbeat, forgetBefore: UnixTime) throws {
        try db.cachedStatement(
            sql: """
                INSERT OR REPLACE INTO refreshers
                    (owner, host, pid, kind, version, started_at, beat_at, last_pass_at, last_pass_ok, last_error_class)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            beat.owner, beat.host, beat.pid, beat.kind.rawValue, beat.version, beat.startedAt.seconds,
            beat.beatAt.seconds, beat.lastPassAt?.seconds, beat.lastPassOK, beat.lastErrorClass,
        ])
        try db.cachedStatement(sql: "DELETE FROM refreshers WHERE beat_at < ?").execute(arguments: [
            forgetBefore.seconds
        ])
    }
}

/// Probes: when each active token is next asked about (`policy.probe_every`).
extension SQLiteTransaction {
    func dueProbeIDs(now: UnixTime, limit: Int) throws -> [String] {
        try String.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT id FROM tokens INDEXED BY tokens_probe_at
                    WHERE \(SQLiteSchema.probeCondition) AND probe_at <= ? AND (lease_until IS NULL OR lease_until < ?)
                    ORDER BY probe_at LIMIT ?
                    """
            ),
            arguments: [now.seconds, now.seconds, limit]
        )
    }

    func nextProbe(now: UnixTime) throws -> UnixTime? {
        try Int64.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT probe_at FROM tokens INDEXED BY tokens_probe_at
                    WHERE \(SQLiteSchema.probeCondition) AND (lease_until IS NULL OR lease_until < ?)
                    ORDER BY probe_at LIMIT 1
                    """
            ),
            arguments: [now.seconds]
        ).map(UnixTime.init(seconds:))
    }

    func scheduleProbes(now: UnixTime, every: Duration) throws -> Int {
        // random() is uniform over 64 bits: its remainder spreads the first probes over `every`.
        // A scan of the table (the index holds only scheduled tokens): the engine runs it hourly.
        try db.execute(
            sql: """
                UPDATE tokens SET probe_at = ? + abs(random() % ?)
                WHERE state = '\(TokenState.active.rawValue)' AND probe_at IS NULL
                """,
            arguments: [now.seconds, max(every.wholeSeconds, 1)]
        )
        return db.changesCount
    }

    func recordProbe(id: String, owner: String, at: UnixTime?, next: UnixTime?) throws -> Bool {
        try db.cachedStatement(
            sql: """
                UPDATE tokens SET last_probed_at = COALESCE(?, last_probed_at), probe_at = ?
                WHERE id = ? AND lease_owner = ?
                """
        ).execute(arguments: [at?.seconds, next?.seconds, id, owner])
        return db.changesCount == 1
    }
}

extension SQLiteTransaction {
    func countDueTokens(now: UnixTime) throws -> Int {
        try Int.fetchOne(
            db.cachedStatement(
                sql: "SELECT COUNT(*) FROM tokens WHERE \(SQLiteSchema.liveCondition) AND refresh_at <= ?"
            ),
            arguments: [now.seconds]
        ) ?? 0
    }
}
