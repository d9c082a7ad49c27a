/// The store-wide figures of `status` and of every `/metrics` scrape, read in one transaction
/// from a handful of index range counts, one plain count and the small `refreshers` table:
/// never a read of the tokens' rows.
package struct StoreSummary: Sendable, Equatable {
    /// The windows of `tokenkeeper_tokens_expiring{within}`, cumulative.
    package static let expiryWindows: [(label: String, duration: Duration)] = [
        ("1d", .seconds(86_400)), ("3d", .seconds(3 * 86_400)), ("7d", .seconds(7 * 86_400)),
        ("14d", .seconds(14 * 86_400)), ("30d", .seconds(30 * 86_400)),
    ]
    /// A refresher is live while its last heartbeat is at most this old: a daemon beats every
    /// minute, so three missed beats.
    package static let liveness: Duration = .seconds(180)
    /// How far back `status` and `/metrics` list refreshers.
    package static let refresherWindow: Duration = .seconds(86_400)

    package var now: UnixTime
    package var byState: [TokenState: Int]
    /// Live tokens expiring within each of ``expiryWindows`` (those already past included).
    package var expiring: [Int]
    /// The earliest expiry of a live token.
    package var nextExpiry: UnixTime?
    /// The earliest scheduled refresh of a live token nobody holds.
    package var nextRefresh: UnixTime?
    /// Refreshers seen within ``refresherWindow``, most recent first.
    package var refreshers: [RefresherHeartbeat]

    package var total: Int { byState.values.reduce(0, +) }

    /// The latest pass of the refreshers of each kind on each host, in the order each host and
    /// kind was last seen: one series per host and kind, however many processes (a `run-once`
    /// every 5 minutes is a new process, and would be a new series, each time).
    package var lastPasses: [(host: String, kind: RefresherHeartbeat.Kind, at: UnixTime)] {
        var passes: [(host: String, kind: RefresherHeartbeat.Kind, at: UnixTime)] = []
        for refresher in refreshers {
            guard let at = refresher.lastPassAt else { continue }
            if let index = passes.firstIndex(where: { $0.host == refresher.host && $0.kind == refresher.kind }) {
                passes[index].at = max(passes[index].at, at)
            } else {
                passes.append((refresher.host, refresher.kind, at))
            }
        }
        return passes
    }

    /// Whether `refresher` beat within ``liveness`` of `now`.
    package func isLive(_ refresher: RefresherHeartbeat) -> Bool { refresher.beatAt >= now - Self.liveness }

    package init(reading store: any StoreReading, now: UnixTime) throws {
        self.now = now
        byState = try store.countTokensByState()
        expiring = try Self.expiryWindows.map { window in
            try store.countTokens(.all, expiringAfter: nil, upTo: now + window.duration)
                - store.countTokens(.attention, expiringAfter: nil, upTo: now + window.duration)
        }
        nextExpiry = try store.earliestExpiry(.live)
        nextRefresh = try store.nextRefresh(now: now)
        refreshers = try store.refreshers(seenSince: now - Self.refresherWindow)
    }

    /// The figures as Prometheus text: `tokenkeeper_tokens`, `tokenkeeper_tokens_expiring`, the
    /// next expiry and refresh, `tokenkeeper_refreshers` and each refresher's last pass.
    package var prometheusText: String {
        var text = """
            # HELP tokenkeeper_tokens Stored tokens by state.
            # TYPE tokenkeeper_tokens gauge

            """
        for state in TokenState.allCases {
            text += "tokenkeeper_tokens{state=\"\(state.rawValue)\"} \(byState[state] ?? 0)\n"
        }
        text += """
            # HELP tokenkeeper_tokens_expiring Live tokens expiring within the window (those past their expiry included).
            # TYPE tokenkeeper_tokens_expiring gauge

            """
        for (window, count) in zip(Self.expiryWindows, expiring) {
            text += "tokenkeeper_tokens_expiring{within=\"\(window.label)\"} \(count)\n"
        }
        if let nextExpiry {
            text += """
                # HELP tokenkeeper_next_expiry_timestamp_seconds When the first live token expires (Unix time).
                # TYPE tokenkeeper_next_expiry_timestamp_seconds gauge
                tokenkeeper_next_expiry_timestamp_seconds \(nextExpiry.seconds)

                """
        }
        if let nextRefresh {
            text += """
                # HELP tokenkeeper_next_refresh_timestamp_seconds When the next refresh is scheduled (Unix time).
                # TYPE tokenkeeper_next_refresh_timestamp_seconds gauge
                tokenkeeper_next_refresh_timestamp_seconds \(nextRefresh.seconds)

                """
        }
        let live = refreshers.filter(isLive).count
        text += """
            # HELP tokenkeeper_refreshers Refreshers (daemons, run-once) seen in the last day, by whether they beat in the last 3 minutes.
            # TYPE tokenkeeper_refreshers gauge
            tokenkeeper_refreshers{liveness="live"} \(live)
            tokenkeeper_refreshers{liveness="stale"} \(refreshers.count - live)
            # HELP tokenkeeper_last_pass_timestamp_seconds When refreshers of each kind on each host, seen in the last day, last completed a pass (Unix time).
            # TYPE tokenkeeper_last_pass_timestamp_seconds gauge

            """
        for pass in lastPasses {
            let labels = "host=\"\(TokenSeries.escape(pass.host))\",kind=\"\(pass.kind.rawValue)\""
            text += "tokenkeeper_last_pass_timestamp_seconds{\(labels)} \(pass.at.seconds)\n"
        }
        return text
    }
}
