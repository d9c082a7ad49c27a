import Foundation
import GRDB

/// One row of `tokens`: a stored token, sealed, with its schedule and its last failure.
public struct TokenRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "tokens"

    public var id: String
    public var projectID: String
    public var label: String?
    public var wabaID: String?
    public var businessManager: String?
    /// AES-256-GCM of the token with `id` as associated data; opened only by ``TokenSealer``.
    public var sealedToken: Data
    public var fingerprint: String
    public var issuedAt: UnixTime
    public var expiresAt: UnixTime
    public var refreshAt: UnixTime
    public var state: TokenState
    /// Consecutive failed attempts.
    public var failures: Int
    public var lastError: LastError?
    public var lastRefreshedAt: UnixTime?
    public var leaseOwner: String?
    public var leaseUntil: UnixTime?
    public var version: Int

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

    public enum Columns {
        public static let id = Column(CodingKeys.id)
        public static let projectID = Column(CodingKeys.projectID)
        public static let expiresAt = Column(CodingKeys.expiresAt)
        public static let refreshAt = Column(CodingKeys.refreshAt)
        public static let state = Column(CodingKeys.state)
    }
}

/// The last failure of a token: class, code, status and message, never the token.
public struct LastError: Codable, Sendable, Equatable {
    /// `transient`, `throttled`, `permanent` or `credentials`.
    public var errorClass: String
    public var code: String
    public var status: Int?
    public var message: String
    public var at: UnixTime

    public init(errorClass: String, code: String, status: Int?, message: String, at: UnixTime) {
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
    public init(row: Row) throws {
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
