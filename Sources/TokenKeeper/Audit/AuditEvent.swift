/// The events of the audit log (<doc:CLIContract#Audit-events>).
package enum AuditEvent: String, Codable, Sendable, CaseIterable {
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
    /// `key rotate` finished: the new key's id, how many tokens it re-sealed.
    case keyRotated = "key_rotated"
    /// `key retire` removed a key that sealed no token any more.
    case keyRetired = "key_retired"
    /// `audit restore-triggers` put back append-only triggers that were missing or disabled.
    case triggersRestored = "triggers_restored"
    /// `audit reseal` sealed the chain's head over a seal that no longer matched it.
    case auditResealed = "audit_resealed"
    /// A store from before the seal had its chain's head sealed at its first open with the key.
    case auditSealed = "audit_sealed"
}

/// The `detail` object of an audit row. Every field is optional; none may hold a token.
package struct AuditDetail: Codable, Sendable, Equatable {
    package var fingerprint: String?
    package var oldFingerprint: String?
    package var newFingerprint: String?
    package var project: String?
    package var source: String?
    package var httpStatus: Int?
    package var errorClass: String?
    package var errorCode: String?
    package var attempt: Int?
    package var latencyMs: Int?
    package var note: String?
    /// A master key's id (never the key).
    package var keyID: String?
    /// A number of tokens (`key_rotated`: re-sealed).
    package var tokens: Int?

    package init(
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
        note: String? = nil,
        keyID: String? = nil,
        tokens: Int? = nil
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
        self.keyID = keyID
        self.tokens = tokens
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
        case keyID = "key_id"
        case tokens
    }
}
