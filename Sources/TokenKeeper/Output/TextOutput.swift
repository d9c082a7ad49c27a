/// The human-readable output: tables, `show` blocks and the `check` line. No token values; every
/// stored string is shown through ``TerminalText/escape(_:)``.
package enum TextOutput {
    /// Aligned columns; widths come from `rows` (the caller passes a prefix for long streams).
    package struct Table {
        package let headers: [String]
        package private(set) var widths: [Int]

        package init(headers: [String], sizingRows: [[String]]) {
            self.headers = headers
            widths = headers.map(\.count)
            for row in sizingRows {
                for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
            }
        }

        package func line(_ cells: [String]) -> String {
            var out = ""
            for (index, cell) in cells.enumerated() {
                if index == cells.count - 1 {
                    out += cell
                } else {
                    out += cell + String(repeating: " ", count: max(0, widths[index] - cell.count) + 2)
                }
            }
            return out
        }
    }

    package static let tokenHeaders = ["ID", "PROJECT", "LABEL", "STATE", "EXPIRES", "REMAINING", "NEXT REFRESH"]

    /// One token as a table row.
    package static func tokenRow(_ record: TokenRecord, now: UnixTime) -> [String] {
        [
            TerminalText.escape(record.id),
            TerminalText.escape(record.projectID),
            record.label.map(TerminalText.escape) ?? "-",
            record.state.rawValue,
            RFC3339.format(record.expiresAt),
            record.expiresAt > now
                ? DurationText.relative(record.expiresAt, now: now)
                : "expired \(DurationText.relative(record.expiresAt, now: now))",
            !TokenState.live.contains(record.state)
                ? "-" : record.refreshAt <= now ? "due now" : DurationText.relative(record.refreshAt, now: now),
        ]
    }

    /// `show` without `--json`: one field a line.
    package static func details(_ record: TokenRecord, now: UnixTime) -> String {
        var lines: [(String, String)] = [
            ("id", record.id),
            ("project", record.projectID),
            ("label", record.label ?? "-"),
            ("waba", record.wabaID ?? "-"),
            ("business manager", record.businessManager ?? "-"),
            ("state", record.state.rawValue),
            ("issued", RFC3339.format(record.issuedAt)),
            ("expires", "\(RFC3339.format(record.expiresAt)) (\(DurationText.relative(record.expiresAt, now: now)))"),
            (
                "next refresh",
                "\(RFC3339.format(record.refreshAt)) (\(DurationText.relative(record.refreshAt, now: now)))"
            ),
            ("last refreshed", record.lastRefreshedAt.map(RFC3339.format) ?? "never"),
            ("last probed", record.lastProbedAt.map(RFC3339.format) ?? "never"),
            ("failures", String(record.failures)),
            ("fingerprint", record.fingerprint),
        ]
        if let error = record.lastError {
            let status = error.status.map { " HTTP \($0)" } ?? ""
            lines.append(
                (
                    "last error",
                    "\(error.errorClass) \(error.code)\(status): \(error.message) at \(RFC3339.format(error.at))"
                )
            )
        }
        let width = lines.map(\.0.count).max() ?? 0
        return lines.map {
            $0.0 + ":" + String(repeating: " ", count: width - $0.0.count + 1) + TerminalText.escape($0.1)
        }
        .joined(separator: "\n")
    }

    /// The one-line `check` verdict with performance data, as monitoring plugins print it.
    package static func checkLine(_ report: ExpiryCheck.Report) -> String {
        let counts = report.counts
        let warn = DurationText.format(report.warn)
        let crit = DurationText.format(report.crit)
        var parts: [String] = []
        if report.refreshersStale, let stale = report.stale {
            let last = report.lastPassAt.map { "last " + DurationText.relative($0, now: report.now) } ?? "none seen"
            parts.append(
                "no refresher (daemon or run-once) has completed a pass in \(DurationText.format(stale)) (\(last))"
            )
        }
        // The verb agrees with its count: "1 needs", "2 need".
        func verb(_ count: Int, _ one: String, _ many: String) -> String { "\(count) \(count == 1 ? one : many)" }
        if counts.needsReauth > 0 {
            parts.append(verb(counts.needsReauth, "needs", "need") + " a new Embedded Signup (needs_reauth)")
        }
        if counts.expired > 0 { parts.append("\(counts.expired) expired") }
        if counts.critical > 0 { parts.append(verb(counts.critical, "expires", "expire") + " within \(crit)") }
        if counts.warning > 0 { parts.append(verb(counts.warning, "expires", "expire") + " within \(warn)") }
        var summary =
            parts.isEmpty
            ? (counts.total == 0
                ? "no tokens stored" : "\(counted(counts.total, "token")), none expires within \(warn)")
            : parts.joined(separator: ", ") + " (of \(counted(counts.total, "token")))"
        if let first = report.attention.first {
            let when =
                first.expiresAt > report.now
                ? "expires \(DurationText.relative(first.expiresAt, now: report.now))"
                : "expired \(DurationText.relative(first.expiresAt, now: report.now))"
            let name = first.label.map { " \($0)," } ?? ""
            summary +=
                "; first: \(first.id) (\(name.isEmpty ? "" : name.dropFirst() + " ")project \(first.projectID), \(first.state.rawValue)) \(when)"
        }
        summary = statusText(summary)
        return
            "TOKENKEEPER \(report.status.rawValue) - \(summary) | total=\(counts.total) needs_reauth=\(counts.needsReauth) expired=\(counts.expired) critical=\(counts.critical) warning=\(counts.warning)\(report.stale == nil ? "" : " refreshers_stale=\(report.refreshersStale ? 1 : 0)")"
    }

    /// Text for the part of a `check` line before its performance data, one line whatever it
    /// quotes (a label, an error): escaped, and a `|`, which would start fake performance data,
    /// shown as `/`.
    package static func statusText(_ text: String) -> String {
        TerminalText.escape(text).replacingOccurrences(of: "|", with: "/")
    }

    /// One audit event as a line for people.
    package static func auditLine(_ record: AuditRecord) -> String {
        TerminalText.escape(
            "\(record.seq)  \(RFC3339.format(record.at))  \(record.event)  \(record.tokenID ?? "-")  \(record.actor)  \(record.detail)"
        )
    }
}
