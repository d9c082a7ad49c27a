import GRDB

/// The schema, as named migrations. A migration is frozen once shipped: change the schema by
/// adding one.
enum SQLiteMigrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1 meta") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meta (
                        key TEXT PRIMARY KEY NOT NULL,
                        value TEXT NOT NULL
                    )
                    """
            )
        }
        migrator.registerMigration("v1 tokens") { db in
            try db.execute(
                sql: """
                    CREATE TABLE tokens (
                        id TEXT PRIMARY KEY NOT NULL,
                        project_id TEXT NOT NULL,
                        label TEXT,
                        waba_id TEXT,
                        business_manager TEXT,
                        sealed_token BLOB NOT NULL,
                        fingerprint TEXT NOT NULL,
                        issued_at INTEGER NOT NULL,
                        expires_at INTEGER NOT NULL,
                        refresh_at INTEGER NOT NULL,
                        state TEXT NOT NULL
                            CHECK (state IN ('active', 'retrying', 'needs_reauth', 'expired')),
                        failures INTEGER NOT NULL DEFAULT 0,
                        last_error TEXT,
                        last_refreshed_at INTEGER,
                        lease_owner TEXT,
                        lease_until INTEGER,
                        version INTEGER NOT NULL DEFAULT 1
                    );
                    -- The scheduler's question: what is due next among live tokens.
                    CREATE INDEX tokens_refresh_at ON tokens(refresh_at)
                        WHERE state IN ('active', 'retrying');
                    -- list and check: what expires soonest.
                    CREATE INDEX tokens_expires_at ON tokens(expires_at);
                    -- Tokens that need a person, in expiry order. Partial: few rows, and nothing
                    -- for add or import to maintain. Queries repeat its WHERE to use it.
                    CREATE INDEX tokens_attention ON tokens(state, expires_at)
                        WHERE state IN ('needs_reauth', 'expired');
                    """
            )
        }
        migrator.registerMigration("v1 audit") { db in
            try db.execute(
                sql: """
                    CREATE TABLE audit (
                        seq INTEGER PRIMARY KEY NOT NULL,
                        at INTEGER NOT NULL,
                        token_id TEXT,
                        event TEXT NOT NULL,
                        actor TEXT NOT NULL,
                        detail TEXT NOT NULL,
                        prev_hash TEXT NOT NULL,
                        hash TEXT NOT NULL
                    );
                    CREATE INDEX audit_token_id ON audit(token_id, seq);
                    """
            )
            // Append-only through this tool; the hash chain catches anyone who drops these.
            try db.execute(sql: auditGuards)
        }
        migrator.registerMigration("v2 tokens fingerprint") { db in
            // A token value is stored once: add and import look up each new token's fingerprint.
            // Not unique: two values may share the 64-bit fingerprint (the values are compared).
            try db.execute(sql: "CREATE INDEX tokens_fingerprint ON tokens(fingerprint)")
        }
        migrator.registerMigration("v3 rate slots") { db in
            // Calls per project and rate window, for every process on this file (FleetRate).
            try db.execute(
                sql: """
                    CREATE TABLE rate_slots (
                        window_start INTEGER NOT NULL,
                        project TEXT NOT NULL,
                        used INTEGER NOT NULL,
                        granted INTEGER NOT NULL,
                        PRIMARY KEY (window_start, project)
                    ) WITHOUT ROWID
                    """
            )
        }
        migrator.registerMigration("v4 fleet operations") { db in
            // The tokens /metrics names one by one by default, beside those expiring soon (which
            // tokens_expires_at finds): small in a healthy store, so a scrape reads few rows.
            try db.execute(
                sql: "CREATE INDEX tokens_troubled ON tokens(expires_at) WHERE \(SQLiteSchema.troubledCondition)"
            )
            // Probes (`probe`, `policy.probe_every`): when each token was last asked about, and
            // when the daemon asks next (active tokens only, soonest first).
            try db.execute(sql: "ALTER TABLE tokens ADD COLUMN last_probed_at INTEGER")
            try db.execute(sql: "ALTER TABLE tokens ADD COLUMN probe_at INTEGER")
            try db.execute(sql: "CREATE INDEX tokens_probe_at ON tokens(probe_at) WHERE \(SQLiteSchema.probeCondition)")
            // Each refreshing process's last heartbeat (status, check --stale, liveness metrics).
            try db.execute(
                sql: """
                    CREATE TABLE refreshers (
                        owner TEXT PRIMARY KEY,
                        host TEXT NOT NULL,
                        pid INTEGER NOT NULL,
                        kind TEXT NOT NULL,
                        version TEXT NOT NULL,
                        started_at INTEGER NOT NULL,
                        beat_at INTEGER NOT NULL,
                        last_pass_at INTEGER,
                        last_pass_ok INTEGER,
                        last_error_class TEXT
                    ) WITHOUT ROWID
                    """
            )
        }
        migrator.registerMigration("v5 token counts") { db in
            // check and /metrics count tokens by state and expiry from these slices, not from
            // index ranges that grow with the store (SQLiteTransaction+Counts).
            try db.execute(sql: SQLiteTokenCounts.schema)
        }
        return migrator
    }

    /// The audit table's guards, each trigger's name and statement: what `audit verify` compares
    /// the stored definitions with (`AuditGuards.normalized`), and what `audit
    /// restore-triggers` runs again.
    static let auditGuardDefinitions: [(name: String, sql: String)] = [
        (
            "audit_no_update",
            """
            CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
                BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
            """
        ),
        (
            "audit_no_delete",
            """
            CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
                BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
            """
        ),
    ]

    /// The names of ``auditGuards``' triggers.
    static let auditGuardNames = auditGuardDefinitions.map(\.name)

    /// The audit table's guards as one script (the first migration ran it).
    static let auditGuards = auditGuardDefinitions.map { $0.sql + ";" }.joined(separator: "\n")
}
