import GRDB

/// The per-token series of a scrape, a page of tokens at a time:
/// `tokenkeeper_token_expiry_timestamp_seconds` for every token, then
/// `tokenkeeper_token_refresh_timestamp_seconds` (the next scheduled refresh) for live ones.
///
/// Each page is its own short read that resumes after the last rowid of the one before (the
/// table's own order, read sequentially), so neither the text nor a read transaction spans the
/// whole table. A token added or removed during a scrape may show in one family and not the
/// other; the next scrape has it right. (`tokens` has a text primary key, so its rowid is not an
/// alias: a `VACUUM` during a scrape could renumber rows and repeat or skip some in that scrape.
/// tokenkeeper never vacuums; an operator who does it by hand gets one odd scrape at most.)
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

        var sql: String {
            switch self {
            case .expiry:
                "SELECT rowid, id, project_id, label, expires_at FROM tokens WHERE rowid > ? ORDER BY rowid LIMIT ?"
            case .refresh:
                """
                SELECT rowid, id, project_id, label, refresh_at FROM tokens
                WHERE rowid > ? AND \(TokenState.liveSQL) ORDER BY rowid LIMIT ?
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
    /// The last rowid read in `family`; nil before its first page.
    private var after: Int64?

    package init(pageSize: Int) {
        precondition(pageSize > 0, "a page holds at least one token")
        self.pageSize = pageSize
    }

    /// The next page of text, or nil when both families are written.
    package mutating func next(_ db: Database) throws -> [UInt8]? {
        guard let family else { return nil }
        var output: [UInt8] = []
        if after == nil { output += Array(family.header.utf8) }
        let rows = try Row.fetchAll(db, sql: family.sql, arguments: [after ?? Int64.min, pageSize])
        for row in rows {
            let id: String = row[1]
            let project: String = row[2]
            let label: String? = row[3]
            let value: Int64 = row[4]
            let labels =
                "{id=\"\(Self.escape(id))\",project=\"\(Self.escape(project))\",label=\"\(Self.escape(label ?? ""))\"}"
            output += Array("\(family.name)\(labels) \(value)\n".utf8)
        }
        if rows.count < pageSize {
            self.family = family.next
            after = nil
        } else {
            after = rows.last?[0]
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
