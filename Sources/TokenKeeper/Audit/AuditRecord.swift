/// One row of `audit`: an event, chained to the row before it by `prev_hash`.
package struct AuditRecord: Codable, Sendable, Equatable {
    package var seq: Int64
    package var at: UnixTime
    package var tokenID: String?
    package var event: String
    /// `host:pid:nonce` for the daemon, `cli:user` for a command.
    package var actor: String
    /// The ``AuditDetail`` as JSON text, exactly as hashed.
    package var detail: String
    package var prevHash: String
    package var hash: String

    package init(
        seq: Int64,
        at: UnixTime,
        tokenID: String?,
        event: String,
        actor: String,
        detail: String,
        prevHash: String,
        hash: String
    ) {
        self.seq = seq
        self.at = at
        self.tokenID = tokenID
        self.event = event
        self.actor = actor
        self.detail = detail
        self.prevHash = prevHash
        self.hash = hash
    }

    enum CodingKeys: String, CodingKey {
        case seq, at
        case tokenID = "token_id"
        case event, actor, detail
        case prevHash = "prev_hash"
        case hash
    }
}
