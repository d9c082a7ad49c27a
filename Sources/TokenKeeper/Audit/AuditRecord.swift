import GRDB

/// One row of `audit`: an event, chained to the row before it by `prev_hash`.
public struct AuditRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "audit"

    public var seq: Int64
    public var at: UnixTime
    public var tokenID: String?
    public var event: String
    /// `host:pid` for the daemon, `cli:user` for a command.
    public var actor: String
    /// The ``AuditDetail`` as JSON text, exactly as hashed.
    public var detail: String
    public var prevHash: String
    public var hash: String

    enum CodingKeys: String, CodingKey {
        case seq, at
        case tokenID = "token_id"
        case event, actor, detail
        case prevHash = "prev_hash"
        case hash
    }

    public enum Columns {
        public static let seq = Column(CodingKeys.seq)
        public static let at = Column(CodingKeys.at)
        public static let tokenID = Column(CodingKeys.tokenID)
        public static let event = Column(CodingKeys.event)
    }
}
