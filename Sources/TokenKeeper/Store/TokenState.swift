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

    /// States that need a person (a backend may index exactly these rows).
    package static let attention: [TokenState] = [.needsReauth, .expired]
}
