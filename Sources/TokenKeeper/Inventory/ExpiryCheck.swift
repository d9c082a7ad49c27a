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

    package init(warn: Duration = .seconds(14 * 86_400), crit: Duration = .seconds(3 * 86_400)) {
        self.warn = warn
        self.crit = crit
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
    /// WARNING if anything expires within `warn`, OK otherwise.
    package static func status(of counts: Counts) -> Status {
        if counts.needsReauth + counts.expired + counts.critical > 0 { return .critical }
        if counts.warning > 0 { return .warning }
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
            return Report(
                status: Self.status(of: counts),
                counts: counts,
                warn: warn,
                crit: crit,
                attention: attentionTokens,
                now: now
            )
        }
    }
}
