import Foundation
import Logging
import PostgresNIO
import TokenKeeper

/// One transaction on a ``PostgresStore``: the domain's ``StoreWriting`` in SQL, each statement
/// sent on the transaction's connection and waited for.
///
/// Audit rows are sent in groups: ``appendAudit(_:)`` queues a row, and the queue goes out as one
/// multi-row INSERT (or COPY) before the next statement of another kind, at 4,096 rows, or at commit, with
/// the chain head moved in the same round trip's transaction. Long reads go through a cursor,
/// a page at a time, so `list` over a million tokens never holds them all.
final class PostgresTransaction: StoreWriting {
    let connection: PostgresConnection
    let timeout: Duration
    /// False in a read: nothing is locked.
    let writable: Bool
    /// Audit rows appended but not sent yet (``flushAudit()``).
    var pendingAudit: [AuditRecord] = []
    /// The COPY sent but not yet answered (``finishCopy()``).
    var copying: PostgresThread.Running<Void>?
    /// The audit seal in a write transaction of a bound store (``PostgresSealing``).
    var sealing: PostgresSealing?
    private var cursors = 0

    static let logger = Logger(label: "tokenkeeper.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    init(connection: PostgresConnection, timeout: Duration, writable: Bool) {
        self.connection = connection
        self.timeout = timeout
        self.writable = writable
    }

    // MARK: - Sending

    /// Sends `query` after any queued audit rows; its rows.
    @discardableResult
    func execute(_ query: PostgresQuery) throws -> [PostgresRow] {
        try flushAudit()
        return try send(query)
    }

    /// Sends `query` once the COPY in flight, if any, is answered; its rows.
    @discardableResult
    func send(_ query: PostgresQuery) throws -> [PostgresRow] {
        try finishCopy()
        let connection = connection
        return try PostgresThread.shared.start {
            try await connection.query(query, logger: Self.logger).collect()
        }.wait(within: timeout, on: connection)
    }

    /// Calls `body` with each row of `query`, read through a cursor `page` rows at a time.
    func forEachRow(_ query: PostgresQuery, page: Int = 2_000, _ body: (PostgresRow) throws -> Void) throws {
        cursors += 1
        let name = "tokenkeeper_cursor_\(cursors)"
        try execute(PostgresQuery(unsafeSQL: "DECLARE \(name) NO SCROLL CURSOR FOR " + query.sql, binds: query.binds))
        while true {
            let rows = try send(PostgresQuery(unsafeSQL: "FETCH \(page) FROM \(name)"))
            for row in rows { try body(row) }
            if rows.count < page { break }
        }
        try send(PostgresQuery(unsafeSQL: "CLOSE \(name)"))
    }

    func commit() throws {
        try execute("COMMIT")
    }

    /// Sends what is queued (audit rows) and waits for a COPY in flight: the end of a write
    /// sent without `BEGIN`, where there is no `COMMIT` to do it.
    func sendQueued() throws {
        try flushAudit()
        try finishCopy()
    }

    /// Waits for the COPY in flight, if any; its error.
    func finishCopy() throws {
        guard let running = copying else { return }
        copying = nil
        try running.wait(within: timeout, on: connection)
    }

    /// Ends a failed transaction: queued audit rows are dropped, a COPY in flight is let finish
    /// (its error is moot now), and `ROLLBACK` sent; false when the connection could not take it.
    func rollBack() -> Bool {
        pendingAudit.removeAll()
        guard !connection.isClosed else { return false }
        _ = try? finishCopy()
        return (try? send("ROLLBACK")) != nil
    }

    /// The names of the migrations applied, nil when the database has no tokenkeeper schema.
    func appliedMigrations() throws -> [String]? {
        let exists = try execute("SELECT to_regclass('tokenkeeper_migrations') IS NOT NULL")
        guard try exists.first?.decode(Bool.self) == true else { return nil }
        return try execute("SELECT name FROM tokenkeeper_migrations ORDER BY name").map { try $0.decode(String.self) }
    }

    // MARK: - Key check

    func keyCheck() throws -> String? {
        try execute("SELECT value FROM meta WHERE key = 'key_check'").first?.decode(String.self)
    }

    func setKeyCheck(_ check: String) throws {
        try execute("INSERT INTO meta (key, value) VALUES ('key_check', \(check))")
    }

    // MARK: - Tokens

    func token(id: String) throws -> TokenRecord? {
        try execute(
            PostgresQuery(
                unsafeSQL: "SELECT \(PostgresSchema.tokenSelectColumns) FROM tokens WHERE id = $1",
                binds: binds(id)
            )
        )
        .first.map(TokenRecord.init(postgresRow:))
    }

    func forEachToken(_ filter: TokenFilter, _ body: (TokenRecord) throws -> Void) throws {
        var conditions: [String] = []
        var arguments = PostgresBindings()
        if let condition = PostgresSchema.condition(filter.states) { conditions.append(condition) }
        if let by = filter.expiringBy {
            arguments.append(by.seconds)
            conditions.append("expires_at <= $\(arguments.count)")
        }
        if let project = filter.project {
            arguments.append(project)
            conditions.append("project_id = $\(arguments.count)")
        }
        var sql = "SELECT \(PostgresSchema.tokenSelectColumns) FROM tokens"
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        // Tokens that expire together come in the order they were stored, as on SQLite (its
        // rowid), so both list alike and a copy keeps its source's order.
        sql += " ORDER BY expires_at, position"
        if let limit = filter.limit {
            arguments.append(limit)
            sql += " LIMIT $\(arguments.count)"
        }
        try forEachRow(PostgresQuery(unsafeSQL: sql, binds: arguments)) { try body(try TokenRecord(postgresRow: $0)) }
    }

    func countTokens(_ states: TokenStates, expiringAfter after: UnixTime?, upTo: UnixTime?) throws -> Int {
        var conditions: [String] = []
        var arguments = PostgresBindings()
        if let condition = PostgresSchema.condition(states) { conditions.append(condition) }
        if let after {
            arguments.append(after.seconds)
            conditions.append("expires_at > $\(arguments.count)")
        }
        if let upTo {
            arguments.append(upTo.seconds)
            conditions.append("expires_at <= $\(arguments.count)")
        }
        var sql = "SELECT COUNT(*) FROM tokens"
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        return Int(try execute(PostgresQuery(unsafeSQL: sql, binds: arguments)).first?.decode(Int64.self) ?? 0)
    }

    func countTokensByState() throws -> [TokenState: Int] {
        // As on SQLite: the states other than `active` from the small troubled index, `active`
        // as the rest of a count (an index-only scan), in one round trip.
        let sql = """
            SELECT state, COUNT(*) FROM tokens
            WHERE \(PostgresSchema.troubledCondition) AND state <> '\(TokenState.active.rawValue)' GROUP BY state
            UNION ALL SELECT '', COUNT(*) FROM tokens
            """
        var counts: [TokenState: Int] = [:]
        var total = 0
        for row in try execute(PostgresQuery(unsafeSQL: sql)) {
            let (state, count) = try row.decode((String, Int64).self)
            if state.isEmpty {
                total = Int(count)
            } else if let state = TokenState(rawValue: state) {
                counts[state] = Int(count)
            }
        }
        counts[.active] = total - counts.values.reduce(0, +)
        return counts
    }

    func sealedTokens(withFingerprint fingerprint: String) throws -> [(id: String, sealed: Data)] {
        try execute("SELECT id, sealed_token FROM tokens WHERE fingerprint = \(fingerprint)").map { row in
            let (id, sealed) = try row.decode((String, ByteBuffer).self)
            return (id, Data(sealed.readableBytesView))
        }
    }

    func forEachFingerprint(_ body: (String) -> Void) throws {
        try forEachRow("SELECT fingerprint FROM tokens", page: 20_000) { body(try $0.decode(String.self)) }
    }

    func insertToken(_ record: TokenRecord) throws -> Bool {
        var arguments = PostgresBindings(capacity: 17)
        try PostgresSchema.append(record, to: &arguments)
        let placeholders = (1...17).map { "$\($0)" }.joined(separator: ", ")
        let sql = """
            INSERT INTO tokens (\(PostgresSchema.tokenColumns)) VALUES (\(placeholders))
            ON CONFLICT (id) DO NOTHING RETURNING 1
            """
        return try execute(PostgresQuery(unsafeSQL: sql, binds: arguments)).count == 1
    }

    func updateToken(_ record: TokenRecord) throws {
        var arguments = PostgresBindings(capacity: 18)
        try PostgresSchema.append(record, to: &arguments)
        arguments.append(record.id)
        let assignments = PostgresSchema.tokenColumns.split(separator: ",").enumerated()
            .map { "\($0.element.trimmingCharacters(in: .whitespaces)) = $\($0.offset + 1)" }
            .joined(separator: ", ")
        let sql = "UPDATE tokens SET \(assignments) WHERE id = $18 RETURNING 1"
        guard try execute(PostgresQuery(unsafeSQL: sql, binds: arguments)).count == 1 else {
            throw TokenKeeperError(.notFound, "no token with id \(record.id) to update")
        }
    }

    func deleteToken(id: String) throws {
        try execute("DELETE FROM tokens WHERE id = \(id)")
    }

    // MARK: - The scheduler and the engine

    func dueTokenIDs(now: UnixTime, limit: Int) throws -> [String] {
        let sql = """
            SELECT id FROM tokens
            WHERE \(PostgresSchema.liveCondition) AND refresh_at <= $1 AND (lease_until IS NULL OR lease_until < $1)
            ORDER BY refresh_at LIMIT $2
            """
        return try execute(PostgresQuery(unsafeSQL: sql, binds: binds(now.seconds, limit))).map {
            try $0.decode(String.self)
        }
    }

    func nextRefresh(now: UnixTime) throws -> UnixTime? {
        let sql = """
            SELECT refresh_at FROM tokens
            WHERE \(PostgresSchema.liveCondition) AND (lease_until IS NULL OR lease_until < $1)
            ORDER BY refresh_at LIMIT 1
            """
        return try execute(PostgresQuery(unsafeSQL: sql, binds: binds(now.seconds))).first
            .map { UnixTime(seconds: try $0.decode(Int64.self)) }
    }

    func claimLease(id: String, owner: String, until: UnixTime, now: UnixTime, onlyIfDue: Bool) throws -> TokenRecord? {
        // `refresh_at <= now` matters: a token another process refreshed (and released) after it
        // was listed as due is free again, but no longer due. A row another host is updating is
        // waited for, then its new version is checked (READ COMMITTED).
        let sql = """
            UPDATE tokens SET lease_owner = $1, lease_until = $2
            WHERE id = $3 AND \(PostgresSchema.liveCondition)
              AND (lease_until IS NULL OR lease_until < $4) AND (refresh_at <= $4 OR $5)
            RETURNING \(PostgresSchema.tokenSelectColumns)
            """
        var arguments = binds(owner, until.seconds, id, now.seconds)
        arguments.append(!onlyIfDue)
        return try execute(PostgresQuery(unsafeSQL: sql, binds: arguments)).first.map(TokenRecord.init(postgresRow:))
    }

    /// One statement for the chunk: the rows are locked with `FOR UPDATE SKIP LOCKED`, so a
    /// token another host is claiming at this moment is passed over instead of waited for.
    func claimLeases(
        ids: [String],
        owner: String,
        until: UnixTime,
        now: UnixTime,
        onlyIfDue: Bool
    ) throws -> [TokenRecord] {
        guard !ids.isEmpty else { return [] }
        let sql = """
            UPDATE tokens SET lease_owner = $1, lease_until = $2
            WHERE id IN (
                SELECT id FROM tokens
                WHERE id = ANY($3) AND \(PostgresSchema.liveCondition)
                  AND (lease_until IS NULL OR lease_until < $4) AND (refresh_at <= $4 OR $5)
                FOR UPDATE SKIP LOCKED
            )
            RETURNING \(PostgresSchema.tokenSelectColumns)
            """
        var arguments = binds(owner, until.seconds)
        arguments.append(ids)
        arguments.append(now.seconds)
        arguments.append(!onlyIfDue)
        let claimed = try execute(PostgresQuery(unsafeSQL: sql, binds: arguments)).map(TokenRecord.init(postgresRow:))
        let order = Dictionary(ids.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        return claimed.sorted { order[$0.id, default: 0] < order[$1.id, default: 0] }
    }

    func releaseLease(id: String, owner: String) throws {
        try execute(
            "UPDATE tokens SET lease_owner = NULL, lease_until = NULL WHERE id = \(id) AND lease_owner = \(owner)"
        )
    }

    func renewLease(id: String, owner: String, version: Int, until: UnixTime) throws -> Bool {
        try execute(
            """
            UPDATE tokens SET lease_until = \(until.seconds)
            WHERE id = \(id) AND lease_owner = \(owner) AND version = \(version) RETURNING 1
            """
        ).count == 1
    }

    func applyOutcome(_ outcome: TokenOutcomeWrite) throws -> Bool {
        let sealed = outcome.sealedToken.map { ByteBuffer(bytes: $0) }
        let lastError = try outcome.lastError?.storedJSON()
        return try execute(
            """
            UPDATE tokens SET
              sealed_token = COALESCE(\(sealed)::bytea, sealed_token),
              fingerprint = COALESCE(\(outcome.fingerprint)::text, fingerprint),
              issued_at = \(outcome.issuedAt.seconds), expires_at = \(outcome.expiresAt.seconds),
              last_refreshed_at = COALESCE(\(outcome.lastRefreshedAt?.seconds)::bigint, last_refreshed_at),
              state = \(outcome.state.rawValue), failures = \(outcome.failures), refresh_at = \(outcome.refreshAt.seconds),
              last_error = \(lastError), lease_owner = NULL, lease_until = NULL, version = version + 1
            WHERE id = \(outcome.id) AND lease_owner = \(outcome.owner) AND version = \(outcome.version)
            RETURNING 1
            """
        ).count == 1
    }

    /// One statement for a commit group: the rows joined to their values, each still checked
    /// against its claim's lease and `version`; the ids written come back.
    func applyOutcomes(_ outcomes: [TokenOutcomeWrite]) throws -> [Bool] {
        guard outcomes.count > 1 else { return try outcomes.map(applyOutcome) }
        var arguments = PostgresBindings(capacity: outcomes.count * 12)
        var values: [String] = []
        values.reserveCapacity(outcomes.count)
        let types = [
            "text", "text", "integer", "bytea", "text", "bigint", "bigint", "bigint", "text", "integer", "bigint",
            "text",
        ]
        for outcome in outcomes {
            let base = arguments.count
            arguments.append(outcome.id)
            arguments.append(outcome.owner)
            arguments.append(outcome.version)
            arguments.append(outcome.sealedToken.map { ByteBuffer(bytes: $0) })
            arguments.append(outcome.fingerprint)
            arguments.append(outcome.issuedAt.seconds)
            arguments.append(outcome.expiresAt.seconds)
            arguments.append(outcome.lastRefreshedAt?.seconds)
            arguments.append(outcome.state.rawValue)
            arguments.append(outcome.failures)
            arguments.append(outcome.refreshAt.seconds)
            arguments.append(try outcome.lastError?.storedJSON())
            values.append(
                "(" + types.enumerated().map { "$\(base + $0.offset + 1)::\($0.element)" }.joined(separator: ", ") + ")"
            )
        }
        let sql = """
            UPDATE tokens AS t SET
              sealed_token = COALESCE(v.sealed, t.sealed_token), fingerprint = COALESCE(v.fingerprint, t.fingerprint),
              issued_at = v.issued_at, expires_at = v.expires_at,
              last_refreshed_at = COALESCE(v.last_refreshed_at, t.last_refreshed_at),
              state = v.state, failures = v.failures, refresh_at = v.refresh_at,
              last_error = v.last_error, lease_owner = NULL, lease_until = NULL, version = t.version + 1
            FROM (VALUES \(values.joined(separator: ", ")))
              AS v(id, owner, version, sealed, fingerprint, issued_at, expires_at, last_refreshed_at, state, failures,
                   refresh_at, last_error)
            WHERE t.id = v.id AND t.lease_owner = v.owner AND t.version = v.version
            RETURNING t.id
            """
        let written = Set(
            try execute(PostgresQuery(unsafeSQL: sql, binds: arguments)).map { try $0.decode(String.self) }
        )
        return outcomes.map { written.contains($0.id) }
    }

    func postponeProject(_ project: String, until: UnixTime, margin: Duration, now: UnixTime, owner: String) throws {
        let sql = """
            UPDATE tokens SET refresh_at = GREATEST(refresh_at, LEAST($1, expires_at - $2))
            WHERE project_id = $3 AND \(PostgresSchema.liveCondition) AND refresh_at < $1
              AND (lease_until IS NULL OR lease_until < $4 OR lease_owner = $5)
            """
        let arguments = binds(until.seconds, margin.wholeSeconds, project, now.seconds, owner)
        try execute(PostgresQuery(unsafeSQL: sql, binds: arguments))
    }

    // MARK: - Binds

    func binds(_ values: any PostgresDynamicTypeEncodable...) -> PostgresBindings {
        var bindings = PostgresBindings(capacity: values.count)
        for value in values { bindings.append(value) }
        return bindings
    }
}
