/// The per-token series of a scrape, a page of tokens at a time:
/// `tokenkeeper_token_expiry_timestamp_seconds`, then `tokenkeeper_token_refresh_timestamp_seconds`
/// (the next scheduled refresh) for live ones, for the tokens `metrics.per_token` selects.
///
/// `attention` (the default) reads two small ranges per family: tokens expiring within `horizon`
/// (the expiry index), then later ones that are not active or have failed (the backend's
/// `tokens_troubled` index). A healthy store of a million tokens reads neither range's rows.
///
/// Each page is its own short read that resumes after the last row of the one before (in its
/// range's order, ``StoreReading/tokenSeriesPage(refresh:scope:after:limit:)``), so neither the
/// text nor a read transaction spans the table. A token added, removed or refreshed during a
/// scrape may show in one family and not the other, or twice; the next scrape has it right.
package struct TokenSeries: Sendable {
    enum Family: Sendable, CaseIterable {
        case expiry, refresh

        var header: String {
            switch self {
            case .expiry:
                """
                # HELP tokenkeeper_token_expiry_timestamp_seconds When each stored token expires (Unix time).
                # TYPE tokenkeeper_token_expiry_timestamp_seconds gauge

                """
            case .refresh:
                """
                # HELP tokenkeeper_token_refresh_timestamp_seconds When each live token is next refreshed (Unix time).
                # TYPE tokenkeeper_token_refresh_timestamp_seconds gauge

                """
            }
        }

        var name: String {
            switch self {
            case .expiry: "tokenkeeper_token_expiry_timestamp_seconds"
            case .refresh: "tokenkeeper_token_refresh_timestamp_seconds"
            }
        }
    }

    let pageSize: Int
    /// What is left to read: each family's ranges, in order; the first is being read.
    private var steps: [(family: Family, scope: TokenSeriesScope)]
    /// The last row read in the first step; nil before its first page.
    private var after: TokenSeriesCursor?
    private var headerWritten = false

    /// - Parameters:
    ///   - selection: `metrics.per_token`.
    ///   - horizon: with `attention`, tokens expiring at or before it are named whatever their state.
    package init(
        pageSize: Int,
        selection: TokenKeeperConfiguration.PerTokenSeries = .all,
        horizon: UnixTime = UnixTime(seconds: 0)
    ) {
        precondition(pageSize > 0, "a page holds at least one token")
        self.pageSize = pageSize
        let scopes: [TokenSeriesScope] =
            switch selection {
            case .all: [.all]
            case .attention: [.expiringBy(horizon), .troubledAfter(horizon)]
            case .none: []
            }
        steps = Family.allCases.flatMap { family in scopes.map { (family, $0) } }
    }

    /// The next page of text, or nil when every family is written.
    package mutating func next(_ store: any StoreReading) throws -> [UInt8]? {
        guard let (family, scope) = steps.first else { return nil }
        var output: [UInt8] = []
        if !headerWritten {
            output += Array(family.header.utf8)
            headerWritten = true
        }
        let rows = try store.tokenSeriesPage(refresh: family == .refresh, scope: scope, after: after, limit: pageSize)
        for row in rows {
            let labels =
                "{id=\"\(Self.escape(row.id))\",project=\"\(Self.escape(row.project))\",label=\"\(Self.escape(row.label ?? ""))\"}"
            output += Array("\(family.name)\(labels) \(row.value.seconds)\n".utf8)
        }
        if rows.count < pageSize {
            steps.removeFirst()
            after = nil
            if steps.first?.family != family { headerWritten = false }
        } else {
            after = rows.last?.cursor
        }
        return output
    }

    /// A label value in the text format: backslash, double quote and newline escaped.
    static func escape(_ value: String) -> String {
        // Bytes, not Characters: the three are ASCII, which UTF-8 never uses inside another
        // character, and this runs for three labels of every token at every scrape.
        let special = value.utf8.contains {
            $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n")
        }
        guard special else { return value }
        return value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
