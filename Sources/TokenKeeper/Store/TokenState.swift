/// Where a token stands; see <doc:Architecture#Token-states>.
package enum TokenState: String, Codable, Sendable, CaseIterable {
    /// Valid and scheduled for its next refresh.
    case active
    /// The last attempt failed for a reason that may pass; backing off.
    case retrying
    /// Meta refused the token: a person must redo Embedded Signup.
    case needsReauth = "needs_reauth"
    /// Past its expiry without a refresh.
    case expired

    /// States the scheduler still works on.
    package static let live: [TokenState] = [.active, .retrying]

    /// States that need a person; the `tokens_attention` index holds exactly these rows.
    package static let attention: [TokenState] = [.needsReauth, .expired]

    /// The `tokens_attention` index's WHERE clause, which a query must repeat to use the index.
    static let attentionSQL = sqlCondition(attention)

    /// The `tokens_refresh_at` index's WHERE clause: live tokens, as every query that looks for
    /// work says it (the same words, so SQLite uses the partial index).
    static let liveSQL = sqlCondition(live)

    /// `state IN ('a', 'b')` for `states`.
    private static func sqlCondition(_ states: [TokenState]) -> String {
        "state IN (" + states.map { "'\($0.rawValue)'" }.joined(separator: ", ") + ")"
    }
}
