/// The events of the audit log (<doc:CLIContract#Audit-events>).
public enum AuditEvent: String, Codable, Sendable, CaseIterable {
    case added
    case exchanged
    case refreshed
    case refreshFailed = "refresh_failed"
    case needsReauth = "needs_reauth"
    case expired
    case revealed
    case removed
    case replaced
    case hookFailed = "hook_failed"
    /// Sinch answered a refresh with the very token it was sent: no proof of an extension, so
    /// the expiry stays as it was.
    case notExtended = "not_extended"
}

/// The `detail` object of an audit row. Every field is optional; none may hold a token.
public struct AuditDetail: Codable, Sendable, Equatable {
    public var fingerprint: String?
    public var oldFingerprint: String?
    public var newFingerprint: String?
    public var project: String?
    public var source: String?
    public var httpStatus: Int?
    public var errorClass: String?
    public var errorCode: String?
    public var attempt: Int?
    public var latencyMs: Int?
    public var note: String?

    public init(
        fingerprint: String? = nil,
        oldFingerprint: String? = nil,
        newFingerprint: String? = nil,
        project: String? = nil,
        source: String? = nil,
        httpStatus: Int? = nil,
        errorClass: String? = nil,
        errorCode: String? = nil,
        attempt: Int? = nil,
        latencyMs: Int? = nil,
        note: String? = nil
    ) {
        self.fingerprint = fingerprint
        self.oldFingerprint = oldFingerprint
        self.newFingerprint = newFingerprint
        self.project = project
        self.source = source
        self.httpStatus = httpStatus
        self.errorClass = errorClass
        self.errorCode = errorCode
        self.attempt = attempt
        self.latencyMs = latencyMs
        self.note = note
    }

    enum CodingKeys: String, CodingKey {
        case fingerprint
        case oldFingerprint = "old_fingerprint"
        case newFingerprint = "new_fingerprint"
        case project, source
        case httpStatus = "http_status"
        case errorClass = "error_class"
        case errorCode = "error_code"
        case attempt
        case latencyMs = "latency_ms"
        case note
    }
}
