import Foundation
import PostgresNIO
import TokenKeeper

/// The schema on PostgreSQL, as named migrations like SQLite's: the same tables and columns
/// (times in Unix seconds, the sealed token as `bytea`), the same partial indexes, plus what a
/// fleet needs: a one-row chain head that every append locks, and a notification when tokens
/// change. A migration is frozen once shipped: change the schema by adding one.
enum PostgresSchema {
    /// The notification channel a daemon listens on (`LISTEN`).
    static let channel = "tokenkeeper_tokens"

    /// The advisory lock key that serializes migrations across hosts ('tkmigrat').
    static let migrationLock: Int64 = 0x746B_6D69_6772_6174

    /// Each migration's statements, sent one by one (the extended protocol takes one at a time).
    static let migrations: [(name: String, statements: [String])] = [
        (
            "v1 meta",
            [
                """
                CREATE TABLE meta (
                    key TEXT PRIMARY KEY,
                    value TEXT NOT NULL
                )
                """
            ]
        ),
        (
            "v1 tokens",
            [
                """
                CREATE TABLE tokens (
                    id TEXT PRIMARY KEY,
                    project_id TEXT NOT NULL,
                    label TEXT,
                    waba_id TEXT,
                    business_manager TEXT,
                    sealed_token BYTEA NOT NULL,
                    fingerprint TEXT NOT NULL,
                    issued_at BIGINT NOT NULL,
                    expires_at BIGINT NOT NULL,
                    refresh_at BIGINT NOT NULL,
                    state TEXT NOT NULL CHECK (\(condition(in: TokenState.allCases))),
                    failures INTEGER NOT NULL DEFAULT 0,
                    last_error TEXT,
                    last_refreshed_at BIGINT,
                    lease_owner TEXT,
                    lease_until BIGINT,
                    version INTEGER NOT NULL DEFAULT 1,
                    -- The order /metrics pages through (SQLite's rowid).
                    position BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE
                )
                """,
                """
                CREATE INDEX tokens_refresh_at ON tokens (refresh_at) WHERE \(liveCondition)
                """,
                """
                CREATE INDEX tokens_expires_at ON tokens (expires_at, position)
                """,
                """
                CREATE INDEX tokens_attention ON tokens (state, expires_at) WHERE \(attentionCondition)
                """,
                """
                CREATE INDEX tokens_fingerprint ON tokens (fingerprint)
                """,
            ]
        ),
        (
            "v1 audit",
            [
                """
                CREATE TABLE audit (
                    seq BIGINT PRIMARY KEY,
                    at BIGINT NOT NULL,
                    token_id TEXT,
                    event TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    detail TEXT NOT NULL,
                    prev_hash TEXT NOT NULL,
                    hash TEXT NOT NULL
                )
                """,
                """
                CREATE INDEX audit_token_id ON audit (token_id, seq)
                """,
                """
                -- The chain's head: every append locks this row in its transaction, so appends from
                -- several hosts line up one after another and the chain never forks.
                CREATE TABLE audit_head (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    seq BIGINT NOT NULL,
                    hash TEXT NOT NULL
                )
                """,
                """
                INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '\(AuditLog.Tail.empty.hash)')
                """,
                """
                -- Append-only through this tool; the hash chain catches anyone who drops these.
                CREATE FUNCTION tokenkeeper_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    RAISE EXCEPTION 'the audit log is append-only';
                END $$
                """,
                """
                CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
                    FOR EACH ROW EXECUTE FUNCTION tokenkeeper_audit_append_only()
                """,
                """
                CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
                    FOR EACH STATEMENT EXECUTE FUNCTION tokenkeeper_audit_append_only()
                """,
            ]
        ),
        (
            "v1 notify",
            [
                """
                -- One notification per statement that adds tokens or moves when one is due (not per
                -- row: an import of a million rows sends one), so daemons on other hosts wake at once.
                CREATE FUNCTION tokenkeeper_tokens_changed() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM pg_notify('\(channel)', '');
                    RETURN NULL;
                END $$
                """,
                """
                CREATE TRIGGER tokens_inserted AFTER INSERT ON tokens
                    FOR EACH STATEMENT EXECUTE FUNCTION tokenkeeper_tokens_changed()
                """,
                """
                CREATE TRIGGER tokens_rescheduled AFTER UPDATE OF refresh_at, state ON tokens
                    FOR EACH STATEMENT EXECUTE FUNCTION tokenkeeper_tokens_changed()
                """,
            ]
        ),
        (
            "v2 rate slots",
            [
                // Calls per project and rate window, for every host on this database (FleetRate).
                """
                CREATE TABLE rate_slots (
                    window_start BIGINT NOT NULL,
                    project TEXT NOT NULL,
                    used INTEGER NOT NULL,
                    granted INTEGER NOT NULL,
                    PRIMARY KEY (window_start, project)
                )
                """
            ]
        ),
        (
            "v3 audit seal",
            [
                // The chain head's HMAC seal (AuditSeal), moved with the head in every append.
                "ALTER TABLE audit_head ADD COLUMN seal TEXT"
            ]
        ),
        (
            "v4 fleet operations",
            [
                // The tokens /metrics names one by one by default, beside those expiring soon
                // (which tokens_expires_at finds): small in a healthy store.
                "CREATE INDEX tokens_troubled ON tokens (expires_at, position) WHERE \(troubledCondition)",
                // Probes (`probe`, `policy.probe_every`): when each token was last asked about,
                // and when the daemon asks next (active tokens only, soonest first).
                "ALTER TABLE tokens ADD COLUMN last_probed_at BIGINT",
                "ALTER TABLE tokens ADD COLUMN probe_at BIGINT",
                "CREATE INDEX tokens_probe_at ON tokens (probe_at) WHERE \(probeCondition)",
                // Each refreshing process's last heartbeat (status, check --stale, liveness metrics).
                """
                CREATE TABLE refreshers (
                    owner TEXT PRIMARY KEY,
                    host TEXT NOT NULL,
                    pid INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    version TEXT NOT NULL,
                    started_at BIGINT NOT NULL,
                    beat_at BIGINT NOT NULL,
                    last_pass_at BIGINT,
                    last_pass_ok BOOLEAN,
                    last_error_class TEXT
                )
                """,
            ]
        ),
    ]

    /// The audit table's guard triggers, each with its definition as `pg_get_triggerdef(oid, true)`
    /// prints the first schema's statement (events in PostgreSQL's order, not the statement's):
    /// what `audit verify` compares the stored triggers with.
    static let auditGuardDefinitions: [(name: String, definition: String)] = [
        (
            "audit_no_update",
            "CREATE TRIGGER audit_no_update BEFORE DELETE OR UPDATE ON audit "
                + "FOR EACH ROW EXECUTE FUNCTION tokenkeeper_audit_append_only()"
        ),
        (
            "audit_no_truncate",
            "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit "
                + "FOR EACH STATEMENT EXECUTE FUNCTION tokenkeeper_audit_append_only()"
        ),
    ]

    /// The names of the audit table's guard triggers.
    static let auditGuardNames = auditGuardDefinitions.map(\.name)

    /// The body of the guards' function as the first schema wrote it (between its `$$`).
    static let auditGuardFunctionBody: String = {
        let function = auditGuardStatements.first { $0.contains("CREATE FUNCTION") } ?? ""
        let parts = function.components(separatedBy: "$$")
        return parts.count == 3 ? parts[1] : ""
    }()

    /// The statements of the first schema that make the audit table's guards: its function and
    /// triggers (`audit restore-triggers` runs them again).
    static let auditGuardStatements = migrations.flatMap(\.statements).filter {
        $0.contains("tokenkeeper_audit_append_only()") && $0.contains("CREATE")
    }

    /// Live tokens, as every query that looks for work says it, so the planner uses the partial index.
    static let liveCondition = condition(in: TokenState.live)
    /// Tokens that need a person: the `tokens_attention` index's condition.
    static let attentionCondition = condition(in: TokenState.attention)

    /// Tokens not active, or failed since their last refresh: the `tokens_troubled` index's condition.
    static let troubledCondition = "(state <> '\(TokenState.active.rawValue)' OR failures > 0)"

    /// The tokens the daemon probes: the `tokens_probe_at` index's condition (empty unless
    /// `policy.probe_every` is on, so it costs an import or a refresh nothing by default).
    static let probeCondition = "state = '\(TokenState.active.rawValue)' AND probe_at IS NOT NULL"

    static func condition(in states: [TokenState]) -> String {
        "state IN (" + states.map { "'\($0.rawValue)'" }.joined(separator: ", ") + ")"
    }

    /// The WHERE condition for `states`, nil for all.
    static func condition(_ states: TokenStates) -> String? {
        switch states {
        case .all: nil
        case .live: liveCondition
        case .attention: attentionCondition
        case .only(let state) where TokenState.attention.contains(state):
            "state = '\(state.rawValue)' AND \(attentionCondition)"
        case .only(let state): "state = '\(state.rawValue)'"
        }
    }

    /// The columns of a token row, in the order ``TokenRecord/init(postgresRow:)`` reads them.
    static let tokenColumns = """
        id, project_id, label, waba_id, business_manager, sealed_token, fingerprint, issued_at, expires_at, \
        refresh_at, state, failures, last_error, last_refreshed_at, lease_owner, lease_until, version
        """

    /// ``tokenColumns`` and the columns a read adds (written by their own statements, never by
    /// an insert or an outcome), in the order ``TokenRecord/init(postgresRow:)`` reads them.
    static let tokenSelectColumns = tokenColumns + ", last_probed_at"

    /// The columns of an audit row, in the order ``AuditRecord/init(postgresRow:)`` reads them.
    static let auditColumns = "seq, at, token_id, event, actor, detail, prev_hash, hash"

    /// ``tokenColumns`` and ``auditColumns`` one name each, for COPY.
    static let tokenColumnNames = names(tokenColumns)
    static let auditColumnNames = names(auditColumns)

    private static func names(_ columns: String) -> [String] {
        columns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// A token's values as binds, in ``tokenColumns`` order.
    static func append(_ record: TokenRecord, to binds: inout PostgresBindings) throws {
        binds.append(record.id)
        binds.append(record.projectID)
        binds.append(record.label)
        binds.append(record.wabaID)
        binds.append(record.businessManager)
        binds.append(ByteBuffer(bytes: record.sealedToken))
        binds.append(record.fingerprint)
        binds.append(record.issuedAt.seconds)
        binds.append(record.expiresAt.seconds)
        binds.append(record.refreshAt.seconds)
        binds.append(record.state.rawValue)
        binds.append(record.failures)
        binds.append(try record.lastError?.storedJSON())
        binds.append(record.lastRefreshedAt?.seconds)
        binds.append(record.leaseOwner)
        binds.append(record.leaseUntil?.seconds)
        binds.append(record.version)
    }
}

extension TokenRecord {
    /// Reads the columns of ``PostgresSchema/tokenColumns`` in order.
    init(postgresRow row: PostgresRow) throws {
        let (id, project, label, waba, manager, sealed, fingerprint, issued, expires, refresh) = try row.decode(
            (String, String, String?, String?, String?, ByteBuffer, String, Int64, Int64, Int64).self
        )
        let (stateText, failures, lastError, lastRefreshed, leaseOwner, leaseUntil, version, lastProbed) =
            try row.decode((String, Int, String?, Int64?, String?, Int64?, Int, Int64?).self, columns: 10)
        guard let state = TokenState(rawValue: stateText) else {
            throw TokenKeeperError(.database, "a token row has the unknown state \(stateText)")
        }
        self.init(
            id: id,
            projectID: project,
            label: label,
            wabaID: waba,
            businessManager: manager,
            sealedToken: Data(sealed.readableBytesView),
            fingerprint: fingerprint,
            issuedAt: UnixTime(seconds: issued),
            expiresAt: UnixTime(seconds: expires),
            refreshAt: UnixTime(seconds: refresh),
            state: state,
            failures: failures,
            lastError: try lastError.map(LastError.init(storedJSON:)),
            lastRefreshedAt: lastRefreshed.map(UnixTime.init(seconds:)),
            leaseOwner: leaseOwner,
            leaseUntil: leaseUntil.map(UnixTime.init(seconds:)),
            version: version,
            lastProbedAt: lastProbed.map(UnixTime.init(seconds:))
        )
    }
}

extension AuditRecord {
    /// Reads the columns of ``PostgresSchema/auditColumns`` in order.
    init(postgresRow row: PostgresRow) throws {
        let (seq, at, tokenID, event, actor, detail, prevHash, hash) = try row.decode(
            (Int64, Int64, String?, String, String, String, String, String).self
        )
        self.init(
            seq: seq,
            at: UnixTime(seconds: at),
            tokenID: tokenID,
            event: event,
            actor: actor,
            detail: detail,
            prevHash: prevHash,
            hash: hash
        )
    }
}

extension PostgresRow {
    /// Decodes `count` columns starting at `first` as the tuple `types`.
    func decode<each Column: PostgresDecodable>(
        _ types: (repeat each Column).Type,
        columns first: Int
    ) throws -> (repeat each Column) {
        var cells = makeIterator()
        for _ in 0..<first { _ = cells.next() }
        func next<C: PostgresDecodable>(_ type: C.Type) throws -> C {
            guard let cell = cells.next() else { throw TokenKeeperError(.database, "a row has too few columns") }
            return try cell.decode(C.self)
        }
        return (repeat try next((each Column).self))
    }
}
