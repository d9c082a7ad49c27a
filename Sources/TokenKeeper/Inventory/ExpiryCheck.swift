/// `tokenkeeper check`: a monitoring verdict over every stored token, in the Nagios convention.
package struct ExpiryCheck: Sendable {
    /// The verdict, with its exit code.
    package enum Status: String, Sendable, Codable {
        case ok = "OK"
        case warning = "WARNING"
        case critical = "CRITICAL"
        case unknown = "UNKNOWN"

        package var exitCode: Int32 {
            switch self {
            case .ok: 0
            case .warning: 1
            case .critical: 2
            case .unknown: 3
            }
        }
    }

    package var warn: Duration
    package var crit: Duration
    /// `--stale`: WARNING when the store has held tokens for longer than this and no refresher
    /// completed a pass within it; nil: not checked.
    package var stale: Duration?

    /// `--warn`'s default; also the window in which `/metrics` names a token by default.
    package static let defaultWarn: Duration = .seconds(14 * 86_400)
    package static let defaultCrit: Duration = .seconds(3 * 86_400)

    package init(warn: Duration = defaultWarn, crit: Duration = defaultCrit, stale: Duration? = nil) {
        self.warn = warn
        self.crit = crit
        self.stale = stale
    }

    /// The counts a verdict is made of. Each token is counted once, in its worst bucket.
    package struct Counts: Sendable, Equatable {
        package var total = 0
        package var needsReauth = 0
        /// State `expired`, or a live token already past its expiry.
        package var expired = 0
        /// Live tokens expiring within `crit`.
        package var critical = 0
        /// Live tokens expiring within `warn` but not `crit`.
        package var warning = 0

        package init(total: Int = 0, needsReauth: Int = 0, expired: Int = 0, critical: Int = 0, warning: Int = 0) {
            self.total = total
            self.needsReauth = needsReauth
            self.expired = expired
            self.critical = critical
            self.warning = warning
        }
    }

    /// The pure decision: CRITICAL if anything needs a person or expires within `crit`,
    /// WARNING if anything expires within `warn` or no refresher has passed lately, OK otherwise.
    package static func status(of counts: Counts, refreshersStale: Bool = false) -> Status {
        if counts.needsReauth + counts.expired + counts.critical > 0 { return .critical }
        if counts.warning > 0 || refreshersStale { return .warning }
        return .ok
    }

    /// The verdict and the tokens behind it.
    package struct Report: Sendable {
        package var status: Status
        package var counts: Counts
        package var warn: Duration
        package var crit: Duration
        /// Up to ten tokens that need attention, worst first.
        package var attention: [TokenRecord]
        package var now: UnixTime
        package var stale: Duration?
        /// Whether the store has held tokens for longer than `stale` and no refresher completed
        /// a pass within it.
        package var refreshersStale = false
        /// The latest pass any refresher completed (nil: none seen), when `stale` was checked.
        package var lastPassAt: UnixTime?
    }

    /// A handful of range counts, not a scan of the tokens, so a million rows answer in
    /// milliseconds (a backend answers them from its expiry index and its small index of tokens
    /// that need a person). Live tokens in a range are all tokens in it minus those that need a
    /// person.
    package func run(on inventory: Inventory) throws -> Report {
        let now = inventory.clock.now
        return try inventory.store.read { store in
            func liveCount(after lower: UnixTime?, upTo upper: UnixTime) throws -> Int {
                try store.countTokens(.all, expiringAfter: lower, upTo: upper)
                    - store.countTokens(.attention, expiringAfter: lower, upTo: upper)
            }
            var counts = Counts()
            counts.total = try store.countTokens(.all)
            counts.needsReauth = try store.countTokens(.only(.needsReauth))
            counts.expired =
                try store.countTokens(.only(.expired))
                + liveCount(after: nil, upTo: now)
            counts.critical = try liveCount(after: now, upTo: now + crit)
            counts.warning = try liveCount(after: now + crit, upTo: now + warn)

            var attentionTokens: [TokenRecord] = []
            try store.forEachToken(TokenFilter(states: .attention, limit: 10)) { attentionTokens.append($0) }
            if attentionTokens.count < 10 {
                let soon = TokenFilter(states: .live, expiringBy: now + warn, limit: 10 - attentionTokens.count)
                try store.forEachToken(soon) { attentionTokens.append($0) }
            }
            var report = Report(
                status: .ok,
                counts: counts,
                warn: warn,
                crit: crit,
                attention: attentionTokens,
                now: now,
                stale: stale
            )
            if let stale, counts.total > 0 {
                (report.refreshersStale, report.lastPassAt) = try Self.refreshersStale(store, now: now, stale: stale)
            }
            report.status = Self.status(of: counts, refreshersStale: report.refreshersStale)
            return report
        }
    }

    /// Whether no refresher has completed a pass within `stale` while the store has held tokens
    /// for longer than that (its first token's audit row; a store filled a minute ago has had no
    /// time for a pass), and the latest pass seen.
    /// A pass that failed (the database unwritable, say) is not a completed one.
    static func refreshersStale(_ store: any StoreReading, now: UnixTime, stale: Duration) throws -> (Bool, UnixTime?) {
        let cutoff = now - stale
        let seen = try store.refreshers(seenSince: now - max(stale, StoreSummary.refresherWindow))
        let lastPass = seen.filter { $0.lastPassOK != false }.compactMap(\.lastPassAt).max()
        if let lastPass, lastPass >= cutoff { return (false, lastPass) }
        let storedSince = try store.firstTokenAuditAt()
        return (storedSince.map { $0 <= cutoff } ?? false, lastPass)
    }
}
