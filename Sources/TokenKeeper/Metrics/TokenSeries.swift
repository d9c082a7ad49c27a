/// The per-token series of a scrape, a page of tokens at a time:
/// `tokenkeeper_token_expiry_timestamp_seconds` for every token, then
/// `tokenkeeper_token_refresh_timestamp_seconds` (the next scheduled refresh) for live ones.
///
/// Each page is its own short read that resumes after the position of the last row of the one
/// before (the store's own order, ``StoreReading/tokenSeriesPage(refresh:after:limit:)``), so
/// neither the text nor a read transaction spans the whole table. A token added or removed
/// during a scrape may show in one family and not the other; the next scrape has it right.
package struct TokenSeries: Sendable {
    enum Family: Sendable {
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

        var next: Family? {
            switch self {
            case .expiry: .refresh
            case .refresh: nil
            }
        }
    }

    let pageSize: Int
    private var family: Family? = .expiry
    /// The position of the last row read in `family`; nil before its first page.
    private var after: Int64?

    package init(pageSize: Int) {
        precondition(pageSize > 0, "a page holds at least one token")
        self.pageSize = pageSize
    }

    /// The next page of text, or nil when both families are written.
    package mutating func next(_ store: any StoreReading) throws -> [UInt8]? {
        guard let family else { return nil }
        var output: [UInt8] = []
        if after == nil { output += Array(family.header.utf8) }
        let rows = try store.tokenSeriesPage(refresh: family == .refresh, after: after, limit: pageSize)
        for row in rows {
            let labels =
                "{id=\"\(Self.escape(row.id))\",project=\"\(Self.escape(row.project))\",label=\"\(Self.escape(row.label ?? ""))\"}"
            output += Array("\(family.name)\(labels) \(row.value.seconds)\n".utf8)
        }
        if rows.count < pageSize {
            self.family = family.next
            after = nil
        } else {
            after = rows.last?.position
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
