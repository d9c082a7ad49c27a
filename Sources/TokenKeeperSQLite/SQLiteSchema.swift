import Foundation
import GRDB
import TokenKeeper

/// How the domain's values sit in SQLite's rows: the columns of `tokens` and `audit`, the
/// partial indexes' conditions.
enum SQLiteSchema {
    /// The `tokens_refresh_at` index's WHERE clause: live tokens, as every query that looks for
    /// work says it (the same words, so SQLite uses the partial index).
    static let liveCondition = condition(in: TokenState.live)

    /// The `tokens_attention` index's WHERE clause, which a query must repeat to use the index.
    static let attentionCondition = condition(in: TokenState.attention)

    /// The `tokens_troubled` index's WHERE clause: tokens not active, or failed since their
    /// last refresh (a query repeats it, word for word, to use the index).
    static let troubledCondition = "(state <> '\(TokenState.active.rawValue)' OR failures > 0)"

    /// The `tokens_probe_at` index's WHERE clause: the tokens the daemon probes. Empty unless
    /// `policy.probe_every` is on, so it costs an import or a refresh nothing by default.
    static let probeCondition = "state = '\(TokenState.active.rawValue)' AND probe_at IS NOT NULL"

    /// `state IN ('a', 'b')` for `states` (the migrations' indexes are written from these).
    static func condition(in states: [TokenState]) -> String {
        "state IN (" + states.map { "'\($0.rawValue)'" }.joined(separator: ", ") + ")"
    }

    /// The WHERE condition for `states`, nil for all. One state that needs a person also repeats
    /// the attention index's condition, so the query uses that small index.
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

    /// The columns every read of a token row selects, in the order ``TokenRecord/init(row:)``
    /// reads them.
    static let tokenColumns = """
        id, project_id, label, waba_id, business_manager, sealed_token, fingerprint, issued_at, expires_at, \
        refresh_at, state, failures, last_error, last_refreshed_at, lease_owner, lease_until, version, last_probed_at
        """

    /// A token row's values in the column order of `INSERT INTO tokens (id, …, version)`.
    static func arguments(_ record: TokenRecord) throws -> StatementArguments {
        [
            record.id, record.projectID, record.label, record.wabaID, record.businessManager, record.sealedToken,
            record.fingerprint, record.issuedAt.seconds, record.expiresAt.seconds, record.refreshAt.seconds,
            record.state.rawValue, record.failures, try record.lastError?.storedJSON(), record.lastRefreshedAt?.seconds,
            record.leaseOwner, record.leaseUntil?.seconds, record.version,
        ]
    }
}

extension TokenRecord {
    /// Reads a `tokens` row selected as ``SQLiteSchema/tokenColumns``, by position: `list` over a
    /// million tokens should not pay for the generic `Decodable` path on every row, and the
    /// engine's claims not for a lookup by name of each column (GRDB lowercases the name: 3 % of
    /// `run-once`'s CPU).
    init(row: Row) throws {
        let lastErrorJSON: String? = try row.decode(atIndex: 12)
        let stateText: String = try row.decode(atIndex: 10)
        guard let state = TokenState(rawValue: stateText) else {
            throw TokenKeeperError(.database, "a token row has the unknown state \(stateText)")
        }
        func time(_ index: Int) throws -> UnixTime? {
            (try row.decode(Int64?.self, atIndex: index)).map(UnixTime.init(seconds:))
        }
        self.init(
            id: try row.decode(atIndex: 0),
            projectID: try row.decode(atIndex: 1),
            label: try row.decode(atIndex: 2),
            wabaID: try row.decode(atIndex: 3),
            businessManager: try row.decode(atIndex: 4),
            sealedToken: try row.decode(atIndex: 5),
            fingerprint: try row.decode(atIndex: 6),
            issuedAt: UnixTime(seconds: try row.decode(atIndex: 7)),
            expiresAt: UnixTime(seconds: try row.decode(atIndex: 8)),
            refreshAt: UnixTime(seconds: try row.decode(atIndex: 9)),
            state: state,
            failures: try row.decode(atIndex: 11),
            lastError: try lastErrorJSON.map(LastError.init(storedJSON:)),
            lastRefreshedAt: try time(13),
            leaseOwner: try row.decode(atIndex: 14),
            leaseUntil: try time(15),
            version: try row.decode(atIndex: 16),
            lastProbedAt: try time(17)
        )
    }
}

extension AuditRecord {
    /// Reads an `audit` row.
    init(row: Row) throws {
        self.init(
            seq: try row.decode(forColumn: "seq"),
            at: UnixTime(seconds: try row.decode(forColumn: "at")),
            tokenID: try row.decode(forColumn: "token_id"),
            event: try row.decode(forColumn: "event"),
            actor: try row.decode(forColumn: "actor"),
            detail: try row.decode(forColumn: "detail"),
            prevHash: try row.decode(forColumn: "prev_hash"),
            hash: try row.decode(forColumn: "hash")
        )
    }
}
