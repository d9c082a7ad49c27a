import GRDB

/// One row of `audit`: an event, chained to the row before it by `prev_hash`.
package struct AuditRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    package static let databaseTableName = "audit"

    package var seq: Int64
    package var at: UnixTime
    package var tokenID: String?
    package var event: String
    /// `host:pid` for the daemon, `cli:user` for a command.
    package var actor: String
    /// The ``AuditDetail`` as JSON text, exactly as hashed.
    package var detail: String
    package var prevHash: String
    package var hash: String

    enum CodingKeys: String, CodingKey {
        case seq, at
        case tokenID = "token_id"
        case event, actor, detail
        case prevHash = "prev_hash"
        case hash
    }

    package enum Columns {
        package static let seq = Column(CodingKeys.seq)
        package static let at = Column(CodingKeys.at)
        package static let tokenID = Column(CodingKeys.tokenID)
        package static let event = Column(CodingKeys.event)
    }
}
