import Foundation
import PostgresNIO
import TokenKeeper

/// What `/metrics`, `status` and `check` read beyond counts: the per-token series a page at a
/// time, and the refreshers' heartbeats.
extension PostgresTransaction {
    func tokenSeriesPage(
        refresh: Bool,
        scope: TokenSeriesScope,
        after cursor: TokenSeriesCursor?,
        limit: Int
    ) throws
        -> [TokenSeriesRow]
    {
        let select =
            "SELECT position, id, project_id, label, expires_at, \(refresh ? "refresh_at" : "expires_at") FROM tokens"
        let live = refresh ? " AND \(PostgresSchema.liveCondition)" : ""
        let after = (cursor?.expiresAt ?? Int64.min, cursor?.position ?? Int64.min)
        let query: PostgresQuery
        switch scope {
        case .all:
            query = PostgresQuery(
                unsafeSQL: "\(select) WHERE position > $1\(live) ORDER BY position LIMIT $2",
                binds: binds(after.1, limit)
            )
        case .expiringBy(let horizon):
            // tokens_expires_at holds (expires_at, position): the row value resumes inside it.
            query = PostgresQuery(
                unsafeSQL: """
                    \(select) WHERE expires_at <= $1 AND (expires_at, position) > ($2, $3)\(live)
                    ORDER BY expires_at, position LIMIT $4
                    """,
                binds: binds(horizon.seconds, after.0, after.1, limit)
            )
        case .troubledAfter(let horizon):
            query = PostgresQuery(
                unsafeSQL: """
                    \(select) WHERE \(PostgresSchema.troubledCondition) AND expires_at > $1
                      AND (expires_at, position) > ($2, $3)\(live)
                    ORDER BY expires_at, position LIMIT $4
                    """,
                binds: binds(horizon.seconds, after.0, after.1, limit)
            )
        }
        return try execute(query).map { row in
            let (position, id, project, label, expiresAt, value) = try row.decode(
                (Int64, String, String, String?, Int64, Int64).self
            )
            return TokenSeriesRow(
                position: position,
                id: id,
                project: project,
                label: label,
                expiresAt: UnixTime(seconds: expiresAt),
                value: UnixTime(seconds: value)
            )
        }
    }

    func earliestExpiry(_ states: TokenStates) throws -> UnixTime? {
        let condition = PostgresSchema.condition(states).map { " WHERE \($0)" } ?? ""
        return try execute(
            PostgresQuery(unsafeSQL: "SELECT expires_at FROM tokens\(condition) ORDER BY expires_at LIMIT 1")
        ).first.map { UnixTime(seconds: try $0.decode(Int64.self)) }
    }

    func firstTokenAuditAt() throws -> UnixTime? {
        try execute("SELECT at FROM audit WHERE token_id IS NOT NULL ORDER BY seq LIMIT 1").first.map {
            UnixTime(seconds: try $0.decode(Int64.self))
        }
    }

    func refreshers(seenSince since: UnixTime) throws -> [RefresherHeartbeat] {
        let sql = """
            SELECT owner, host, pid, kind, version, started_at, beat_at, last_pass_at, last_pass_ok, last_error_class
            FROM refreshers WHERE beat_at >= $1 ORDER BY beat_at DESC, owner
            """
        return try execute(PostgresQuery(unsafeSQL: sql, binds: binds(since.seconds))).map { row in
            let (owner, host, pid, kind, version, startedAt, beatAt, lastPassAt, lastPassOK, lastErrorClass) =
                try row.decode((String, String, Int32, String, String, Int64, Int64, Int64?, Bool?, String?).self)
            return RefresherHeartbeat(
                owner: owner,
                host: host,
                pid: Int(pid),
                kind: RefresherHeartbeat.Kind(rawValue: kind) ?? .daemon,
                version: version,
                startedAt: UnixTime(seconds: startedAt),
                beatAt: UnixTime(seconds: beatAt),
                lastPassAt: lastPassAt.map(UnixTime.init(seconds:)),
                lastPassOK: lastPassOK,
                lastErrorClass: lastErrorClass
            )
        }
    }

    func recordHeartbeat(_ beat: RefresherHeartbeat, forgetBefore: UnixTime) throws {
        var arguments = binds(beat.owner, beat.host, Int32(clamping: beat.pid), beat.kind.rawValue, beat.version)
        arguments.append(beat.startedAt.seconds)
        arguments.append(beat.beatAt.seconds)
        arguments.append(beat.lastPassAt?.seconds)
        arguments.append(beat.lastPassOK)
        arguments.append(beat.lastErrorClass)
        let sql = """
            INSERT INTO refreshers
                (owner, host, pid, kind, version, started_at, beat_at, last_pass_at, last_pass_ok, last_error_class)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (owner) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, kind = EXCLUDED.kind,
                version = EXCLUDED.version, started_at = EXCLUDED.started_at, beat_at = EXCLUDED.beat_at,
                last_pass_at = EXCLUDED.last_pass_at, last_pass_ok = EXCLUDED.last_pass_ok,
                last_error_class = EXCLUDED.last_error_class
            """
        try execute(PostgresQuery(unsafeSQL: sql, binds: arguments))
        try execute("DELETE FROM refreshers WHERE beat_at < \(forgetBefore.seconds)")
    }
}

/// Probes: when each active token is next asked about (`policy.probe_every`).
extension PostgresTransaction {
    func dueProbeIDs(now: UnixTime, limit: Int) throws -> [String] {
        let sql = """
            SELECT id FROM tokens
            WHERE \(PostgresSchema.probeCondition) AND probe_at <= $1 AND (lease_until IS NULL OR lease_until < $1)
            ORDER BY probe_at LIMIT $2
            """
        return try execute(PostgresQuery(unsafeSQL: sql, binds: binds(now.seconds, limit))).map {
            try $0.decode(String.self)
        }
    }

    func nextProbe(now: UnixTime) throws -> UnixTime? {
        let sql = """
            SELECT probe_at FROM tokens
            WHERE \(PostgresSchema.probeCondition) AND (lease_until IS NULL OR lease_until < $1)
            ORDER BY probe_at LIMIT 1
            """
        return try execute(PostgresQuery(unsafeSQL: sql, binds: binds(now.seconds))).first.map {
            UnixTime(seconds: try $0.decode(Int64.self))
        }
    }

    func scheduleProbes(now: UnixTime, every: Duration) throws -> Int {
        // Counted on the server: a first schedule over a million tokens sends back one row.
        let sql = """
            WITH scheduled AS (
                UPDATE tokens SET probe_at = $1 + floor(random() * $2)::bigint
                WHERE state = '\(TokenState.active.rawValue)' AND probe_at IS NULL RETURNING 1
            ) SELECT COUNT(*) FROM scheduled
            """
        let rows = try execute(PostgresQuery(unsafeSQL: sql, binds: binds(now.seconds, max(every.wholeSeconds, 1))))
        return Int(try rows.first?.decode(Int64.self) ?? 0)
    }

    func recordProbe(id: String, owner: String, at: UnixTime?, next: UnixTime?) throws -> Bool {
        var arguments = PostgresBindings()
        arguments.append(at?.seconds)
        arguments.append(next?.seconds)
        arguments.append(id)
        arguments.append(owner)
        let sql = """
            UPDATE tokens SET last_probed_at = COALESCE($1, last_probed_at), probe_at = $2
            WHERE id = $3 AND lease_owner = $4 RETURNING 1
            """
        return try execute(PostgresQuery(unsafeSQL: sql, binds: arguments)).count == 1
    }
}

extension PostgresTransaction {
    func countDueTokens(now: UnixTime) throws -> Int {
        let sql = "SELECT COUNT(*) FROM tokens WHERE \(PostgresSchema.liveCondition) AND refresh_at <= $1"
        return Int(try execute(PostgresQuery(unsafeSQL: sql, binds: binds(now.seconds))).first?.decode(Int64.self) ?? 0)
    }
}
