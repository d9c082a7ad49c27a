import PostgresNIO
import TokenKeeper

/// The audit chain on PostgreSQL: a locked one-row head, and rows sent in groups.
extension PostgresTransaction {
    // MARK: - Audit

    /// In a write transaction this locks the chain head until commit: another host's append
    /// waits here, and then reads the head this one wrote.
    func auditTail() throws -> AuditLog.Tail {
        let rows = try execute(
            writable
                ? "SELECT seq, hash, seal FROM audit_head WHERE id = 1 FOR UPDATE"
                : "SELECT seq, hash, seal FROM audit_head WHERE id = 1"
        )
        guard let (seq, hash, seal) = try rows.first?.decode((Int64, String, String?).self) else { return .empty }
        sealing?.stored = seal
        return AuditLog.Tail(seq: seq, hash: hash)
    }

    func appendAudit(_ record: AuditRecord) throws {
        pendingAudit.append(record)
        if pendingAudit.count >= 4_096 { try flushAudit() }
    }

    /// Sends the queued audit rows and moves the chain head to the last of them, but only from
    /// where the first one links: a head that moved meanwhile fails the transaction.
    func flushAudit() throws {
        guard let first = pendingAudit.first, let last = pendingAudit.last else { return }
        let rows = pendingAudit
        pendingAudit.removeAll(keepingCapacity: true)
        if rows.count >= Self.copyThreshold { return try copyAudit(rows) }
        var arguments = PostgresBindings(capacity: rows.count * 8 + 3)
        var values: [String] = []
        values.reserveCapacity(rows.count)
        for record in rows {
            let base = arguments.count
            arguments.append(record.seq)
            arguments.append(record.at.seconds)
            arguments.append(record.tokenID)
            arguments.append(record.event)
            arguments.append(record.actor)
            arguments.append(record.detail)
            arguments.append(record.prevHash)
            arguments.append(record.hash)
            values.append("(" + (1...8).map { "$\(base + $0)" }.joined(separator: ", ") + ")")
        }
        let head = arguments.count
        arguments.append(last.seq)
        arguments.append(last.hash)
        arguments.append(first.seq - 1)
        arguments.append(sealing?.next(after: first, to: last))
        let sql = """
            WITH appended AS (
                INSERT INTO audit (\(PostgresSchema.auditColumns)) VALUES \(values.joined(separator: ", ")) RETURNING 1
            )
            UPDATE audit_head SET seq = $\(head + 1), hash = $\(head + 2), seal = COALESCE($\(head + 4), seal)
            WHERE id = 1 AND seq = $\(head + 3)
            RETURNING (SELECT COUNT(*) FROM appended)
            """
        guard try self.send(PostgresQuery(unsafeSQL: sql, binds: arguments)).count == 1 else { throw Self.headMoved }
    }

    func forEachAuditRecord(_ query: AuditLog.Query, _ body: (AuditRecord) throws -> Void) throws {
        var conditions: [String] = []
        var arguments = PostgresBindings()
        if let tokenID = query.tokenID {
            arguments.append(tokenID)
            conditions.append("token_id = $\(arguments.count)")
        }
        if let event = query.event {
            arguments.append(event.rawValue)
            conditions.append("event = $\(arguments.count)")
        }
        if let since = query.since {
            arguments.append(since.seconds)
            conditions.append("at >= $\(arguments.count)")
        }
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        var sql = "SELECT \(PostgresSchema.auditColumns) FROM audit" + filter + " ORDER BY seq"
        if let limit = query.limit {
            arguments.append(limit)
            sql = """
                SELECT \(PostgresSchema.auditColumns) FROM audit
                WHERE seq IN (SELECT seq FROM audit\(filter) ORDER BY seq DESC LIMIT $\(arguments.count)) ORDER BY seq
                """
        }
        try forEachRow(PostgresQuery(unsafeSQL: sql, binds: arguments)) { try body(try AuditRecord(postgresRow: $0)) }
    }

    /// A trigger counts when its definition is the schema's (layout aside), it fires in an
    /// ordinary session (`tgenabled` `O`: `DISABLE` and `ENABLE REPLICA` both let edits through)
    /// and its function is the schema's plpgsql body (one that returns the row would let them by).
    func missingAuditGuards() throws -> [String] {
        let rows = try execute(
            """
            SELECT t.tgname, pg_get_triggerdef(t.oid, true), t.tgenabled::text, l.lanname, p.prosrc
            FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_language l ON l.oid = p.prolang
            WHERE t.tgrelid = 'audit'::regclass AND NOT t.tgisinternal
            """
        )
        var present = Set<String>()
        let body = AuditGuards.normalized(PostgresSchema.auditGuardFunctionBody)
        for row in rows {
            let (name, definition, enabled, language, source) = try row.decode(
                (String, String, String, String, String).self
            )
            let expected = PostgresSchema.auditGuardDefinitions.first { $0.name == name }?.definition
            if let expected, AuditGuards.normalized(definition) == AuditGuards.normalized(expected), enabled == "O",
                language == "plpgsql", AuditGuards.normalized(source) == body
            {
                present.insert(name)
            }
        }
        return PostgresSchema.auditGuardNames.filter { !present.contains($0) }
    }

    func hasAuditRecord(tokenID: String, after seq: Int64) throws -> Bool {
        try execute("SELECT EXISTS (SELECT 1 FROM audit WHERE token_id = \(tokenID) AND seq > \(seq))")
            .first?.decode(Bool.self) == true
    }
}
