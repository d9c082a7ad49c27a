/// Which tokens a page of the per-token `/metrics` series covers (`metrics.per_token`).
package enum TokenSeriesScope: Sendable, Equatable {
    /// Every token, in the backend's own order (`all`).
    case all
    /// Tokens expiring at or before the time, by expiry then position.
    case expiringBy(UnixTime)
    /// Tokens expiring after the time that are not active or have failed since their last
    /// refresh, by expiry then position (the backend's small `tokens_troubled` index).
    case troubledAfter(UnixTime)
}

/// Where a page of per-token series resumes: after this row in the scope's order.
package struct TokenSeriesCursor: Sendable, Equatable {
    package var expiresAt: Int64
    package var position: Int64

    package init(expiresAt: Int64, position: Int64) {
        self.expiresAt = expiresAt
        self.position = position
    }
}

/// One token's line in a `/metrics` family, with the place to resume after.
package struct TokenSeriesRow: Sendable, Equatable {
    /// The backend's position of the row (SQLite's rowid, PostgreSQL's `position`).
    package var position: Int64
    package var id: String
    package var project: String
    package var label: String?
    package var expiresAt: UnixTime
    /// The expiry or the next refresh, by family.
    package var value: UnixTime

    package init(position: Int64, id: String, project: String, label: String?, expiresAt: UnixTime, value: UnixTime) {
        self.position = position
        self.id = id
        self.project = project
        self.label = label
        self.expiresAt = expiresAt
        self.value = value
    }

    package var cursor: TokenSeriesCursor { TokenSeriesCursor(expiresAt: expiresAt.seconds, position: position) }
}

/// A refresher's last heartbeat in the store: a daemon writes one at least every minute, a
/// `run-once` at its start and end (`status`, `check --stale`, the liveness metrics).
package struct RefresherHeartbeat: Sendable, Equatable {
    package enum Kind: String, Sendable, CaseIterable {
        case daemon
        case runOnce = "run-once"
    }

    /// The refresher's lease owner (`host:pid:nonce`): one row per process.
    package var owner: String
    package var host: String
    package var pid: Int
    package var kind: Kind
    /// tokenkeeper's version.
    package var version: String
    package var startedAt: UnixTime
    /// When this heartbeat was written.
    package var beatAt: UnixTime
    /// When its last pass ended, or, in a long pass, its last refresh attempt; nil before any.
    package var lastPassAt: UnixTime?
    /// Whether that pass went through (a pass that could not read or write the store did not).
    package var lastPassOK: Bool?
    /// The class of its last error (a pass's, or a refresh's in that pass), never its text.
    package var lastErrorClass: String?

    package init(
        owner: String,
        host: String,
        pid: Int,
        kind: Kind,
        version: String,
        startedAt: UnixTime,
        beatAt: UnixTime,
        lastPassAt: UnixTime? = nil,
        lastPassOK: Bool? = nil,
        lastErrorClass: String? = nil
    ) {
        self.owner = owner
        self.host = host
        self.pid = pid
        self.kind = kind
        self.version = version
        self.startedAt = startedAt
        self.beatAt = beatAt
        self.lastPassAt = lastPassAt
        self.lastPassOK = lastPassOK
        self.lastErrorClass = lastErrorClass
    }
}
