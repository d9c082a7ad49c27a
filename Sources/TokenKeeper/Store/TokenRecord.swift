import Foundation

/// One row of `tokens`: a stored token, sealed, with its schedule and its last failure.
package struct TokenRecord: Codable, Sendable, Equatable {
    package var id: String
    package var projectID: String
    package var label: String?
    package var wabaID: String?
    package var businessManager: String?
    /// AES-256-GCM of the token with `id` as associated data; opened only by ``TokenSealer``.
    package var sealedToken: Data
    package var fingerprint: String
    package var issuedAt: UnixTime
    package var expiresAt: UnixTime
    package var refreshAt: UnixTime
    package var state: TokenState
    /// Consecutive failed attempts.
    package var failures: Int
    package var lastError: LastError?
    package var lastRefreshedAt: UnixTime?
    package var leaseOwner: String?
    package var leaseUntil: UnixTime?
    package var version: Int
    /// When `probe` (or the daemon's `policy.probe_every`) last asked Sinch about it.
    package var lastProbedAt: UnixTime?

    package init(
        id: String,
        projectID: String,
        label: String? = nil,
        wabaID: String? = nil,
        businessManager: String? = nil,
        sealedToken: Data,
        fingerprint: String,
        issuedAt: UnixTime,
        expiresAt: UnixTime,
        refreshAt: UnixTime,
        state: TokenState = .active,
        failures: Int = 0,
        lastError: LastError? = nil,
        lastRefreshedAt: UnixTime? = nil,
        leaseOwner: String? = nil,
        leaseUntil: UnixTime? = nil,
        version: Int = 1,
        lastProbedAt: UnixTime? = nil
    ) {
        self.id = id
        self.projectID = projectID
        self.label = label
        self.wabaID = wabaID
        self.businessManager = businessManager
        self.sealedToken = sealedToken
        self.fingerprint = fingerprint
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.refreshAt = refreshAt
        self.state = state
        self.failures = failures
        self.lastError = lastError
        self.lastRefreshedAt = lastRefreshedAt
        self.leaseOwner = leaseOwner
        self.leaseUntil = leaseUntil
        self.version = version
        self.lastProbedAt = lastProbedAt
    }

    enum CodingKeys: String, CodingKey {
        case id
        case projectID = "project_id"
        case label
        case wabaID = "waba_id"
        case businessManager = "business_manager"
        case sealedToken = "sealed_token"
        case fingerprint
        case issuedAt = "issued_at"
        case expiresAt = "expires_at"
        case refreshAt = "refresh_at"
        case state
        case failures
        case lastError = "last_error"
        case lastRefreshedAt = "last_refreshed_at"
        case leaseOwner = "lease_owner"
        case leaseUntil = "lease_until"
        case version
        case lastProbedAt = "last_probed_at"
    }
}

/// The last failure of a token: class, code, status and message, never the token.
package struct LastError: Codable, Sendable, Equatable {
    /// `transient`, `throttled`, `permanent` or `credentials`.
    package var errorClass: String
    package var code: String
    package var status: Int?
    package var message: String
    package var at: UnixTime

    package init(errorClass: String, code: String, status: Int?, message: String, at: UnixTime) {
        self.errorClass = errorClass
        self.code = code
        self.status = status
        self.message = message
        self.at = at
    }

    enum CodingKeys: String, CodingKey {
        case errorClass = "class"
        case code, status, message, at
    }
}

extension LastError {
    /// `last_error` as every backend stores it: JSON with sorted keys.
    package func storedJSON() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// Reads a stored `last_error`.
    package init(storedJSON text: String) throws {
        self = try JSONDecoder().decode(LastError.self, from: Data(text.utf8))
    }
}
