import Foundation

/// The JSON shape of a token (<doc:CLIContract#JSON>) (`list --json`, `show --json`, `add --json`).
///
/// Absent values are written as `null`, never left out, so scripts can rely on every field.
package struct TokenJSON: Encodable, Sendable {
    package let record: TokenRecord

    package init(_ record: TokenRecord) { self.record = record }

    enum CodingKeys: String, CodingKey {
        case id, project, label, waba
        case businessManager = "business_manager"
        case state
        case issuedAt = "issued_at"
        case expiresAt = "expires_at"
        case refreshAt = "refresh_at"
        case lastRefreshedAt = "last_refreshed_at"
        case lastProbedAt = "last_probed_at"
        case failures
        case lastError = "last_error"
        case fingerprint
    }

    struct LastErrorJSON: Encodable {
        let error: LastError

        enum CodingKeys: String, CodingKey { case errorClass = "class", code, status, message, at }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(error.errorClass, forKey: .errorClass)
            try container.encode(error.code, forKey: .code)
            try container.encode(error.status, forKey: .status)
            try container.encode(error.message, forKey: .message)
            try container.encode(RFC3339.format(error.at), forKey: .at)
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(record.id, forKey: .id)
        try container.encode(record.projectID, forKey: .project)
        try container.encode(record.label, forKey: .label)
        try container.encode(record.wabaID, forKey: .waba)
        try container.encode(record.businessManager, forKey: .businessManager)
        try container.encode(record.state.rawValue, forKey: .state)
        try container.encode(RFC3339.format(record.issuedAt), forKey: .issuedAt)
        try container.encode(RFC3339.format(record.expiresAt), forKey: .expiresAt)
        try container.encode(RFC3339.format(record.refreshAt), forKey: .refreshAt)
        try container.encode(record.lastRefreshedAt.map(RFC3339.format), forKey: .lastRefreshedAt)
        try container.encode(record.lastProbedAt.map(RFC3339.format), forKey: .lastProbedAt)
        try container.encode(record.failures, forKey: .failures)
        try container.encode(record.lastError.map(LastErrorJSON.init), forKey: .lastError)
        try container.encode(record.fingerprint, forKey: .fingerprint)
    }
}

/// The JSON Lines shape of an audit event (<doc:CLIContract#JSON>) (`audit --json`).
package struct AuditJSON: Encodable, Sendable {
    package let record: AuditRecord

    package init(_ record: AuditRecord) { self.record = record }

    enum CodingKeys: String, CodingKey { case seq, at, token, event, actor, detail, hash }

    /// One decoder for every row of a long `audit --json` (JSONDecoder is safe to share).
    private static let detailDecoder = JSONDecoder()

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(record.seq, forKey: .seq)
        try container.encode(RFC3339.format(record.at), forKey: .at)
        try container.encode(record.tokenID, forKey: .token)
        try container.encode(record.event, forKey: .event)
        try container.encode(record.actor, forKey: .actor)
        // The stored detail is JSON text; re-decode it so it nests as an object.
        let detail = try Self.detailDecoder.decode(AuditDetail.self, from: Data(record.detail.utf8))
        try container.encode(detail, forKey: .detail)
        try container.encode(record.hash, forKey: .hash)
    }
}

/// `audit head --json`.
package struct AuditHeadJSON: Encodable, Sendable {
    package let head: AuditLog.Head

    package init(_ head: AuditLog.Head) { self.head = head }

    enum CodingKeys: String, CodingKey { case seq, hash, at }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(head.seq, forKey: .seq)
        try container.encode(head.hash, forKey: .hash)
        if let at = head.at {
            try container.encode(RFC3339.format(at), forKey: .at)
        } else {
            try container.encodeNil(forKey: .at)
        }
    }
}

/// One key of `key list --json`: `{id, created_at, current, tokens}`.
package struct KeyJSON: Encodable, Sendable {
    package let key: KeyRotation.KeyInfo

    package init(_ key: KeyRotation.KeyInfo) { self.key = key }

    enum CodingKeys: String, CodingKey {
        case id, current, tokens
        case createdAt = "created_at"
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(key.id, forKey: .id)
        if let created = key.createdAt {
            try container.encode(RFC3339.format(created), forKey: .createdAt)
        } else {
            try container.encodeNil(forKey: .createdAt)
        }
        try container.encode(key.current, forKey: .current)
        try container.encode(key.tokens, forKey: .tokens)
    }
}

/// The JSON of `check --json`.
package struct CheckJSON: Encodable, Sendable {
    package let report: ExpiryCheck.Report

    package init(_ report: ExpiryCheck.Report) { self.report = report }

    enum CodingKeys: String, CodingKey {
        case status
        case exitCode = "exit_code"
        case total
        case needsReauth = "needs_reauth"
        case expired, critical, warning, warn, crit, tokens, stale
        case refreshersStale = "refreshers_stale", lastPassAt = "last_pass_at"
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(report.status.rawValue, forKey: .status)
        try container.encode(report.status.exitCode, forKey: .exitCode)
        try container.encode(report.counts.total, forKey: .total)
        try container.encode(report.counts.needsReauth, forKey: .needsReauth)
        try container.encode(report.counts.expired, forKey: .expired)
        try container.encode(report.counts.critical, forKey: .critical)
        try container.encode(report.counts.warning, forKey: .warning)
        try container.encode(DurationText.format(report.warn), forKey: .warn)
        try container.encode(DurationText.format(report.crit), forKey: .crit)
        try container.encode(report.attention.map(TokenJSON.init), forKey: .tokens)
        try container.encode(report.stale.map(DurationText.format), forKey: .stale)
        try container.encode(report.refreshersStale, forKey: .refreshersStale)
        try container.encode(report.lastPassAt.map(RFC3339.format), forKey: .lastPassAt)
    }
}

/// One encoder configuration for every JSON the CLI prints.
package struct JSONOutput {
    private let encoder: JSONEncoder

    /// An encoder to reuse for many values (a listing encodes one object per row).
    package init() {
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    }

    package func encode(_ value: some Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    package static func encode(_ value: some Encodable) throws -> String {
        try JSONOutput().encode(value)
    }
}
