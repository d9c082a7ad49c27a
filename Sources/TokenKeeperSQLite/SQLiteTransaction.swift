import Foundation
import GRDB
import TokenKeeper

/// One transaction on an ``SQLiteStore``: the domain's ``StoreWriting`` in SQL.
///
/// Statements are GRDB's cached statements of the connection, prepared once per process.
/// Queries that look for live tokens or tokens that need a person repeat the partial indexes'
/// WHERE clauses word for word (``SQLiteSchema``), so SQLite uses those indexes.
struct SQLiteTransaction: StoreWriting {
    let db: Database
    /// The chain's appends in a write transaction, for the seal at its end (nil in reads).
    let appended: AppendedRange?

    init(_ db: Database, appended: AppendedRange? = nil) {
        self.db = db
        self.appended = appended
    }

    // MARK: - Key check

    /// A guard counts when a trigger of its name holds the schema's definition (layout aside): one
    /// recreated under the name with `WHEN 0`, or for another event, is as good as gone.
    func missingAuditGuards() throws -> [String] {
        let stored = try Row.fetchAll(db, sql: "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        let definitions = Dictionary(
            stored.map { row -> (String, String) in (row[0], AuditGuards.normalized(row[1] ?? "")) },
            uniquingKeysWith: { first, _ in first }
        )
        return SQLiteMigrations.auditGuardDefinitions.filter { definitions[$0.name] != AuditGuards.normalized($0.sql) }
            .map(\.name)
    }

    func keyCheck() throws -> String? {
        try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'key_check'")
    }

    func hasHistory() throws -> Bool {
        try Bool.fetchOne(
            db,
            sql: "SELECT EXISTS (SELECT 1 FROM tokens) OR EXISTS (SELECT 1 FROM audit)"
        ) ?? false
    }

    func countTokenRows() throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM tokens") ?? 0
    }

    /// SQLite has one writer at a time: the check cannot move under a write transaction.
    func lockKeyCheck() throws -> String? { try keyCheck() }

    func setKeyCheck(_ check: String) throws {
        try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('key_check', ?)", arguments: [check])
    }

    func replaceKeyCheck(_ old: String, with new: String) throws -> Bool {
        try db.execute(sql: "UPDATE meta SET value = ? WHERE key = 'key_check' AND value = ?", arguments: [new, old])
        return db.changesCount == 1
    }

    // MARK: - Tokens

    func token(id: String) throws -> TokenRecord? {
        let statement = try db.cachedStatement(sql: "SELECT \(SQLiteSchema.tokenColumns) FROM tokens WHERE id = ?")
        return try Row.fetchOne(statement, arguments: [id]).map(TokenRecord.init(row:))
    }

    func forEachToken(_ filter: TokenFilter, _ body: (TokenRecord) throws -> Void) throws {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let condition = SQLiteSchema.condition(filter.states) { conditions.append(condition) }
        if let by = filter.expiringBy {
            conditions.append("expires_at <= ?")
            _ = arguments.append(contentsOf: [by.seconds])
        }
        if let project = filter.project {
            conditions.append("project_id = ?")
            _ = arguments.append(contentsOf: [project])
        }
        var sql = "SELECT \(SQLiteSchema.tokenColumns) FROM tokens"
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        // Tokens that expire together come in the order they were stored (the index holds the
        // rowid after expires_at, so this costs no sort): both stores list alike.
        sql += " ORDER BY expires_at, rowid"
        if let limit = filter.limit {
            sql += " LIMIT ?"
            _ = arguments.append(contentsOf: [limit])
        }
        let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
        while let row = try rows.next() { try body(try TokenRecord(row: row)) }
    }

    func sealedTokens(withFingerprint fingerprint: String) throws -> [(id: String, sealed: Data)] {
        let statement = try db.cachedStatement(sql: "SELECT id, sealed_token FROM tokens WHERE fingerprint = ?")
        let rows = try Row.fetchCursor(statement, arguments: [fingerprint])
        var found: [(id: String, sealed: Data)] = []
        while let row = try rows.next() {
            guard let sealed = row[1] as Data? else { continue }
            found.append((row[0], sealed))
        }
        return found
    }

    func forEachFingerprint(_ body: (String) -> Void) throws {
        let cursor = try String.fetchCursor(db, sql: "SELECT fingerprint FROM tokens")
        while let fingerprint = try cursor.next() { body(fingerprint) }
    }

    func insertToken(_ record: TokenRecord) throws -> Bool {
        guard try insertRow(record) else { return false }
        try countInserted([SQLiteTokenCounts.Slice(of: record): 1])
        return true
    }

    /// Each row, then the count of each slice they went to: one statement per slice, not per row.
    func insertTokens(_ records: [TokenRecord]) throws -> [String] {
        var taken: [String] = []
        var inserted: [SQLiteTokenCounts.Slice: Int] = [:]
        for record in records {
            if try insertRow(record) {
                inserted[SQLiteTokenCounts.Slice(of: record), default: 0] += 1
            } else {
                taken.append(record.id)
            }
        }
        try countInserted(inserted)
        return taken
    }

    /// Inserts a token row, uncounted (``countInserted(_:)``); false when its id is taken.
    private func insertRow(_ record: TokenRecord) throws -> Bool {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO tokens (id, project_id, label, waba_id, business_manager, sealed_token, fingerprint,
                    issued_at, expires_at, refresh_at, state, failures, last_error, last_refreshed_at,
                    lease_owner, lease_until, version)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        )
        do {
            try statement.execute(arguments: SQLiteSchema.arguments(record))
            return true
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            return false
        }
    }

    func updateToken(_ record: TokenRecord) throws {
        let statement = try db.cachedStatement(
            sql: """
                UPDATE tokens SET id = ?, project_id = ?, label = ?, waba_id = ?, business_manager = ?,
                    sealed_token = ?, fingerprint = ?, issued_at = ?, expires_at = ?, refresh_at = ?, state = ?,
                    failures = ?, last_error = ?, last_refreshed_at = ?, lease_owner = ?, lease_until = ?,
                    version = ?
                WHERE id = ?
                """
        )
        var arguments = try SQLiteSchema.arguments(record)
        _ = arguments.append(contentsOf: [record.id])
        try statement.execute(arguments: arguments)
        guard db.changesCount == 1 else {
            throw TokenKeeperError(.notFound, "no token with id \(record.id) to update")
        }
    }

    func deleteToken(id: String) throws {
        try db.execute(sql: "DELETE FROM tokens WHERE id = ?", arguments: [id])
    }

    // MARK: - The scheduler and the engine

    func dueTokenIDs(now: UnixTime, limit: Int) throws -> [String] {
        try String.fetchAll(
            db,
            sql: """
                SELECT id FROM tokens
                WHERE \(SQLiteSchema.liveCondition) AND refresh_at <= ?
                  AND (lease_until IS NULL OR lease_until < ?)
                ORDER BY refresh_at LIMIT ?
                """,
            arguments: [now.seconds, now.seconds, limit]
        )
    }

    func nextRefresh(now: UnixTime) throws -> UnixTime? {
        // Read in the partial index's order: the first row is the answer.
        try Int64.fetchOne(
            db,
            sql: """
                SELECT refresh_at FROM tokens
                WHERE \(SQLiteSchema.liveCondition) AND (lease_until IS NULL OR lease_until < ?)
                ORDER BY refresh_at LIMIT 1
                """,
            arguments: [now.seconds]
        )
        .map(UnixTime.init(seconds:))
    }

    func claimLease(id: String, owner: String, until: UnixTime, now: UnixTime, onlyIfDue: Bool) throws -> TokenRecord? {
        // `refresh_at <= now` matters: a token another process refreshed (and released) after it
        // was listed as due is free again, but no longer due.
        let claim = try db.cachedStatement(
            sql: """
                UPDATE tokens SET lease_owner = ?, lease_until = ?
                WHERE id = ? AND \(SQLiteSchema.liveCondition)
                  AND (lease_until IS NULL OR lease_until < ?)
                  AND (refresh_at <= ? OR ?)
                RETURNING \(SQLiteSchema.tokenColumns)
                """
        )
        return try Row.fetchOne(
            claim,
            arguments: [owner, until.seconds, id, now.seconds, now.seconds, !onlyIfDue]
        )
        .map(TokenRecord.init(row:))
    }

    func releaseLease(id: String, owner: String) throws {
        let release = try db.cachedStatement(
            sql: "UPDATE tokens SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?"
        )
        try release.execute(arguments: [id, owner])
    }

    func renewLease(id: String, owner: String, version: Int, until: UnixTime) throws -> Bool {
        try db.execute(
            sql: "UPDATE tokens SET lease_until = ? WHERE id = ? AND lease_owner = ? AND version = ?",
            arguments: [until.seconds, id, owner, version]
        )
        return db.changesCount == 1
    }

    func applyOutcome(_ outcome: TokenOutcomeWrite) throws -> Bool {
        let update = try db.cachedStatement(
            sql: """
                UPDATE tokens SET
                  sealed_token = COALESCE(?, sealed_token), fingerprint = COALESCE(?, fingerprint),
                  issued_at = ?, expires_at = ?, last_refreshed_at = COALESCE(?, last_refreshed_at),
                  state = ?, failures = ?, refresh_at = ?, last_error = ?,
                  lease_owner = NULL, lease_until = NULL, version = version + 1
                WHERE id = ? AND lease_owner = ? AND version = ?
                """
        )
        try update.execute(arguments: [
            outcome.sealedToken, outcome.fingerprint,
            outcome.issuedAt.seconds, outcome.expiresAt.seconds, outcome.lastRefreshedAt?.seconds,
            outcome.state.rawValue, outcome.failures, outcome.refreshAt.seconds,
            try outcome.lastError?.storedJSON(),
            outcome.id, outcome.owner, outcome.version,
        ])
        return db.changesCount == 1
    }

    /// One upsert: the window's count grows by what is granted, never past `limit`; `granted`
    /// is computed from the count before it (every SET reads the old row).
    /// One upsert: `used` is the first place not yet given, `granted` how many this call got
    /// (every SET reads the old row).
    func takeRatePlaces(
        project: String,
        window: Int64,
        limit: Int,
        wanted: Int,
        from: Int,
        keeping: ClosedRange<Int64>
    ) throws -> Range<Int> {
        try db.execute(
            sql: "DELETE FROM rate_slots WHERE window_start NOT BETWEEN ? AND ?",
            arguments: [keeping.lowerBound, keeping.upperBound]
        )
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO rate_slots AS r (window_start, project, used, granted)
                VALUES (:window, :project, MIN(:from + :wanted, :limit), MIN(:from + :wanted, :limit) - :from)
                ON CONFLICT (window_start, project) DO UPDATE
                SET used = MIN(MAX(r.used, :from) + :wanted, :limit),
                    granted = MIN(MAX(r.used, :from) + :wanted, :limit) - MAX(r.used, :from)
                RETURNING used, granted
                """
        )
        let from = min(max(from, 0), limit)
        guard
            let row = try Row.fetchOne(
                statement,
                arguments: ["window": window, "project": project, "from": from, "wanted": wanted, "limit": limit]
            )
        else { return 0..<0 }
        let (used, granted): (Int, Int) = (row[0], row[1])
        return max(0, used - granted)..<used
    }

    func postponeProject(_ project: String, until: UnixTime, margin: Duration, now: UnixTime, owner: String) throws {
        try db.execute(
            sql: """
                UPDATE tokens SET refresh_at = MAX(refresh_at, MIN(?, expires_at - ?))
                WHERE project_id = ? AND \(SQLiteSchema.liveCondition) AND refresh_at < ?
                  AND (lease_until IS NULL OR lease_until < ? OR lease_owner = ?)
                """,
            arguments: [until.seconds, margin.wholeSeconds, project, until.seconds, now.seconds, owner]
        )
    }

    // MARK: - Audit

    func auditTail() throws -> AuditLog.Tail {
        guard let row = try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1") else {
            return .empty
        }
        return AuditLog.Tail(seq: row[0], hash: row[1])
    }

    func appendAudit(_ record: AuditRecord) throws {
        let statement = try db.cachedStatement(
            sql:
                "INSERT INTO audit (seq, at, token_id, event, actor, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        try statement.execute(arguments: [
            record.seq, record.at.seconds, record.tokenID, record.event, record.actor, record.detail, record.prevHash,
            record.hash,
        ])
        appended?.note(record)
    }

    func forEachAuditRecord(_ query: AuditLog.Query, _ body: (AuditRecord) throws -> Void) throws {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let tokenID = query.tokenID {
            conditions.append("token_id = ?")
            _ = arguments.append(contentsOf: [tokenID])
        }
        if let event = query.event {
            conditions.append("event = ?")
            _ = arguments.append(contentsOf: [event.rawValue])
        }
        if let since = query.since {
            conditions.append("at >= ?")
            _ = arguments.append(contentsOf: [since.seconds])
        }
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        var sql = "SELECT * FROM audit" + filter + " ORDER BY seq"
        if let limit = query.limit {
            // The most recent `limit` rows, printed oldest first: their seqs (from the primary
            // key, newest first), then the rows by primary key, so no full row is sorted.
            sql =
                "SELECT * FROM audit WHERE seq IN (SELECT seq FROM audit\(filter) ORDER BY seq DESC LIMIT ?) ORDER BY seq"
            _ = arguments.append(contentsOf: [limit])
        }
        let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
        while let row = try rows.next() { try body(AuditRecord(row: row)) }
    }

    func hasAuditRecord(tokenID: String, after seq: Int64) throws -> Bool {
        try Bool.fetchOne(
            db,
            sql: "SELECT EXISTS (SELECT 1 FROM audit WHERE token_id = ? AND seq > ?)",
            arguments: [tokenID, seq]
        ) == true
    }
}
