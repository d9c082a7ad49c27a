/// `tokenkeeper status`: the store, its tokens by state, the next expiry and refresh, and every
/// refresher seen in the last day with its last pass.
package struct StatusReport: Sendable {
    package var store: String
    package var summary: StoreSummary
    /// The token rows counted one by one: the counts by state come from a cache (SQLite's
    /// `token_counts`) that a writer without the key can change, so `status` checks it.
    package var storedTokens: Int

    package init(inventory: Inventory) throws {
        store = inventory.store.location
        let now = inventory.clock.now
        (summary, storedTokens) = try inventory.store.read {
            (try StoreSummary(reading: $0, now: now), try $0.countTokenRows())
        }
    }

    /// What is wrong with the cached counts, nil when they add up to the rows.
    package var countProblem: String? {
        guard storedTokens != summary.total else { return nil }
        return "the store holds \(counted(storedTokens, "token")) but its counts say \(summary.total): they were "
            + "changed outside tokenkeeper, so check, status and /metrics count wrongly; restore the store from a backup"
    }

    /// The report for people; every stored string escaped.
    package var text: String {
        let now = summary.now
        func when(_ time: UnixTime?) -> String {
            time.map { "\(RFC3339.format($0)) (\(DurationText.relative($0, now: now)))" } ?? "-"
        }
        let states = TokenState.allCases.map { "\($0.rawValue) \(summary.byState[$0] ?? 0)" }.joined(separator: ", ")
        var lines = [
            "store:         \(TerminalText.escape(store))",
            "tokens:        \(summary.total) (\(states))",
            "expiring:      "
                + zip(StoreSummary.expiryWindows, summary.expiring).map { "\($1) within \($0.label)" }.joined(
                    separator: ", "
                ),
            "next expiry:   \(when(summary.nextExpiry))",
            "next refresh:  \(when(summary.nextRefresh))",
        ]
        if let countProblem { lines.insert("warning:       \(countProblem)", at: 2) }
        guard !summary.refreshers.isEmpty else {
            lines.append("refreshers:    none seen in the last day (no daemon or run-once has written a heartbeat)")
            return lines.joined(separator: "\n")
        }
        lines.append("refreshers:    \(summary.refreshers.count) seen in the last day")
        let headers = ["OWNER", "KIND", "VERSION", "STARTED", "LAST SEEN", "LAST PASS", "RESULT"]
        let rows = summary.refreshers.map { refresher in
            [
                TerminalText.escape(refresher.owner),
                refresher.kind.rawValue,
                TerminalText.escape(refresher.version),
                DurationText.relative(refresher.startedAt, now: now),
                DurationText.relative(refresher.beatAt, now: now) + (summary.isLive(refresher) ? "" : " (stale)"),
                refresher.lastPassAt.map { DurationText.relative($0, now: now) } ?? "none yet",
                Self.result(refresher),
            ]
        }
        let table = TextOutput.Table(headers: headers, sizingRows: rows)
        lines.append(table.line(headers))
        lines += rows.map(table.line)
        return lines.joined(separator: "\n")
    }

    static func result(_ refresher: RefresherHeartbeat) -> String {
        switch refresher.lastPassOK {
        case nil: "-"
        case true?: refresher.lastErrorClass.map { "ok (last error: \(TerminalText.escape($0)))" } ?? "ok"
        case false?: "failed (\(TerminalText.escape(refresher.lastErrorClass ?? "internal")))"
        }
    }
}

/// The JSON of `status --json`.
package struct StatusJSON: Encodable, Sendable {
    let report: StatusReport

    package init(_ report: StatusReport) { self.report = report }

    struct Refresher: Encodable {
        let beat: RefresherHeartbeat
        let live: Bool

        enum CodingKeys: String, CodingKey {
            case owner, host, pid, kind, version, live
            case startedAt = "started_at", lastSeenAt = "last_seen_at", lastPassAt = "last_pass_at"
            case lastPassOK = "last_pass_ok", lastErrorClass = "last_error_class"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(beat.owner, forKey: .owner)
            try container.encode(beat.host, forKey: .host)
            try container.encode(beat.pid, forKey: .pid)
            try container.encode(beat.kind.rawValue, forKey: .kind)
            try container.encode(beat.version, forKey: .version)
            try container.encode(live, forKey: .live)
            try container.encode(RFC3339.format(beat.startedAt), forKey: .startedAt)
            try container.encode(RFC3339.format(beat.beatAt), forKey: .lastSeenAt)
            try container.encode(beat.lastPassAt.map(RFC3339.format), forKey: .lastPassAt)
            try container.encode(beat.lastPassOK, forKey: .lastPassOK)
            try container.encode(beat.lastErrorClass, forKey: .lastErrorClass)
        }
    }

    enum CodingKeys: String, CodingKey {
        case store, tokens, expiring, refreshers, warning
        case nextExpiryAt = "next_expiry_at", nextRefreshAt = "next_refresh_at"
    }

    package func encode(to encoder: any Encoder) throws {
        let summary = report.summary
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(report.store, forKey: .store)
        var tokens = ["total": summary.total, "stored": report.storedTokens]
        for state in TokenState.allCases { tokens[state.rawValue] = summary.byState[state] ?? 0 }
        try container.encode(tokens, forKey: .tokens)
        try container.encode(report.countProblem, forKey: .warning)
        let expiring = Dictionary(
            uniqueKeysWithValues: zip(StoreSummary.expiryWindows.map(\.label), summary.expiring)
        )
        try container.encode(expiring, forKey: .expiring)
        try container.encode(summary.nextExpiry.map(RFC3339.format), forKey: .nextExpiryAt)
        try container.encode(summary.nextRefresh.map(RFC3339.format), forKey: .nextRefreshAt)
        try container.encode(
            summary.refreshers.map { Refresher(beat: $0, live: summary.isLive($0)) },
            forKey: .refreshers
        )
    }
}
