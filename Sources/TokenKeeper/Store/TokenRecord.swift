import Foundation
import GRDB

/// One row of `tokens`: a stored token, sealed, with its schedule and its last failure.
package struct TokenRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    package static let databaseTableName = "tokens"

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
    }

    package enum Columns {
        package static let id = Column(CodingKeys.id)
        package static let projectID = Column(CodingKeys.projectID)
        package static let expiresAt = Column(CodingKeys.expiresAt)
        package static let refreshAt = Column(CodingKeys.refreshAt)
        package static let state = Column(CodingKeys.state)
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

extension TokenRecord {
    /// Reads a row by hand: `list` over a million tokens should not pay for the generic
    /// `Decodable` path on every row.
    package init(row: Row) throws {
        id = try row.decode(forColumn: CodingKeys.id.rawValue)
        projectID = try row.decode(forColumn: CodingKeys.projectID.rawValue)
        label = try row.decode(forColumn: CodingKeys.label.rawValue)
        wabaID = try row.decode(forColumn: CodingKeys.wabaID.rawValue)
        businessManager = try row.decode(forColumn: CodingKeys.businessManager.rawValue)
        sealedToken = try row.decode(forColumn: CodingKeys.sealedToken.rawValue)
        fingerprint = try row.decode(forColumn: CodingKeys.fingerprint.rawValue)
        issuedAt = try row.decode(forColumn: CodingKeys.issuedAt.rawValue)
        expiresAt = try row.decode(forColumn: CodingKeys.expiresAt.rawValue)
        refreshAt = try row.decode(forColumn: CodingKeys.refreshAt.rawValue)
        state = try row.decode(forColumn: CodingKeys.state.rawValue)
        failures = try row.decode(forColumn: CodingKeys.failures.rawValue)
        let lastErrorJSON: String? = try row.decode(forColumn: CodingKeys.lastError.rawValue)
        lastError = try lastErrorJSON.map { try JSONDecoder().decode(LastError.self, from: Data($0.utf8)) }
        lastRefreshedAt = try row.decode(forColumn: CodingKeys.lastRefreshedAt.rawValue)
        leaseOwner = try row.decode(forColumn: CodingKeys.leaseOwner.rawValue)
        leaseUntil = try row.decode(forColumn: CodingKeys.leaseUntil.rawValue)
        version = try row.decode(forColumn: CodingKeys.version.rawValue)
    }
}

extension TokenState: DatabaseValueConvertible {}
