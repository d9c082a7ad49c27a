import Testing
import TokenKeeper

/// One audit row as the store holds it.
struct AuditRowText {
    var seq, at: Int64
    var tokenID: String?
    var event, actor, detail, prevHash, hash: String

    /// The row from its fields as `sqlite3` and `psql -A` print them, `|` between.
    init(_ line: Substring) throws {
        let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        try #require(f.count == 8, "an audit row that does not split in 8: \(line)")
        (seq, at) = (try #require(Int64(f[0])), try #require(Int64(f[1])))
        (tokenID, event, actor, detail, prevHash, hash) = (f[2].isEmpty ? nil : f[2], f[3], f[4], f[5], f[6], f[7])
    }

    var tail: AuditLog.Tail { AuditLog.Tail(seq: seq, hash: hash) }

    /// Makes this row seq `seq` after `previous`, its hash recomputed as the tool would.
    mutating func link(seq: Int64, after previous: String) {
        (self.seq, prevHash) = (seq, previous)
        hash = AuditLog.hash(
            prevHash: previous,
            seq: seq,
            at: UnixTime(seconds: at),
            tokenID: tokenID,
            event: event,
            actor: actor,
            detail: detail
        )
    }

    /// The row's values as an SQL tuple.
    var sqlValues: String {
        let texts = [tokenID, event, actor, detail, prevHash, hash].map(AuditRowText.literal)
        return "(\(seq), \(at), " + texts.joined(separator: ", ") + ")"
    }

    /// `text` as an SQL string literal, or NULL.
    static func literal(_ text: String?) -> String {
        text.map { "'" + $0.replacingOccurrences(of: "'", with: "''") + "'" } ?? "NULL"
    }
}
