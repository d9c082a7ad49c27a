import GRDB
import TokenKeeper

/// How many tokens, by state and by expiry, without a count that grows with the store.
///
/// SQLite counts an index range by visiting every entry in it, so `check` and each `/metrics`
/// scrape would cost time in proportion to the tokens (157 ms at ten million). `token_counts`
/// holds the number of tokens of each state whose expiry falls in each 4,096-second slice,
/// kept by the inserts and by triggers on `tokens` (``SQLiteTokenCounts``): a count is the sum
/// of the whole slices inside its range, plus index counts of the part-slices at its two ends
/// (about an hour of tokens each).
extension SQLiteTransaction {
    func countTokens(_ states: TokenStates, expiringAfter after: UnixTime?, upTo: UnixTime?) throws -> Int {
        let slices = SQLiteTokenCounts.wholeSlices(after: after?.seconds, upTo: upTo?.seconds)
        guard let slices else {
            // Less than two slices wide: the index range is small.
            return try countIndexed(states, after: after?.seconds, upTo: upTo?.seconds)
        }
        var sql = "SELECT COALESCE(SUM(tokens), 0) FROM token_counts WHERE slice BETWEEN ? AND ?"
        if let condition = SQLiteSchema.condition(states) { sql += " AND \(condition)" }
        var count =
            try Int.fetchOne(db.cachedStatement(sql: sql), arguments: [slices.lowerBound, slices.upperBound]) ?? 0
        if let after {
            count += try countIndexed(
                states,
                after: after.seconds,
                upTo: SQLiteTokenCounts.start(of: slices.lowerBound) - 1
            )
        }
        if let upTo {
            count += try countIndexed(states, after: SQLiteTokenCounts.end(of: slices.upperBound), upTo: upTo.seconds)
        }
        return count
    }

    func countTokensByState() throws -> [TokenState: Int] {
        var counts: [TokenState: Int] = [:]
        let rows = try Row.fetchCursor(
            db.cachedStatement(sql: "SELECT state, SUM(tokens) FROM token_counts GROUP BY state")
        )
        while let row = try rows.next() {
            if let state = TokenState(rawValue: row[0]) { counts[state] = row[1] }
        }
        return counts
    }

    /// Adds tokens this transaction inserted to their slices. Inserts are counted here, by the
    /// two statements that insert token rows, rather than by a trigger: a trigger that writes makes
    /// SQLite keep a statement journal for every insert it fires on, and took a third off `import`
    /// (22,000 against 36,000 tokens a second, measured on the same binary).
    func countInserted(_ slices: [SQLiteTokenCounts.Slice: Int]) throws {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO token_counts (state, slice, tokens) VALUES (?, ?, ?)
                ON CONFLICT (state, slice) DO UPDATE SET tokens = tokens + excluded.tokens
                """
        )
        for (slice, tokens) in slices {
            try statement.execute(arguments: [slice.state.rawValue, slice.index, tokens])
        }
    }

    /// A count over the indexes, for a range of at most a couple of slices: live tokens are all
    /// tokens less those that need a person (from the expiry index and the small attention index,
    /// never the table's rows).
    private func countIndexed(_ states: TokenStates, after: Int64?, upTo: Int64?) throws -> Int {
        if states == .live {
            return try countIndexed(.all, after: after, upTo: upTo) - countIndexed(.attention, after: after, upTo: upTo)
        }
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let condition = SQLiteSchema.condition(states) { conditions.append(condition) }
        if let after {
            conditions.append("expires_at > ?")
            _ = arguments.append(contentsOf: [after])
        }
        if let upTo {
            conditions.append("expires_at <= ?")
            _ = arguments.append(contentsOf: [upTo])
        }
        var sql = "SELECT COUNT(*) FROM tokens"
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        return try Int.fetchOne(db.cachedStatement(sql: sql), arguments: arguments) ?? 0
    }
}

/// The `token_counts` table and the triggers that keep it: per state, the tokens whose
/// `expires_at >> 12` is each slice (4,096 seconds, an arithmetic shift: slices are whole
/// for any time, before 1970 too).
package enum SQLiteTokenCounts {
    static let shift: Int64 = 12

    /// A row of `token_counts`: a state and a slice.
    struct Slice: Hashable {
        let state: TokenState
        let index: Int64

        init(of record: TokenRecord) {
            state = record.state
            index = record.expiresAt.seconds >> shift
        }
    }

    /// The offset of a slice's last second within it.
    private static let lastSecond: Int64 = (1 << shift) - 1

    /// The first second of `slice`.
    static func start(of slice: Int64) -> Int64 { slice << shift }

    /// The last second of `slice` (the slice of `Int64.max` ends there, with no next slice).
    static func end(of slice: Int64) -> Int64 { slice << shift | lastSecond }

    /// The slices that lie wholly inside (`after`, `upTo`] (nil ends: unbounded), or nil when
    /// none does.
    package static func wholeSlices(after: Int64?, upTo: Int64?) -> ClosedRange<Int64>? {
        // The slice holding `after` holds `after` itself, so the first whole one is the next;
        // the last whole one ends at or before `upTo`, so it is the one before `upTo + 1`'s.
        let lower = after.map { ($0 >> shift) + 1 } ?? Int64.min >> shift
        let upper = upTo.map { $0 & lastSecond == lastSecond ? $0 >> shift : ($0 >> shift) - 1 } ?? Int64.max >> shift
        return lower <= upper ? lower...upper : nil
    }

    /// `slice` for a row's `expires_at`, as SQL.
    private static func slice(_ row: String) -> String { "(\(row).expires_at >> \(shift))" }

    private static func add(_ row: String) -> String {
        "INSERT INTO token_counts (state, slice, tokens) VALUES (\(row).state, \(slice(row)), 1) "
            + "ON CONFLICT (state, slice) DO UPDATE SET tokens = tokens + 1;"
    }

    /// Takes a row out of its slice, and the slice out of the table when it is empty (so the
    /// table holds only slices with tokens in them: a few thousand rows).
    private static func remove(_ row: String) -> String {
        """
        UPDATE token_counts SET tokens = tokens - 1 WHERE state = \(row).state AND slice = \(slice(row)); \
        DELETE FROM token_counts WHERE state = \(row).state AND slice = \(slice(row)) AND tokens = 0;
        """
    }

    /// The table, filled from the tokens already stored, and the triggers that follow deletes and
    /// updates (inserts are counted by the statements that insert, ``SQLiteTransaction/countInserted(_:)``).
    /// An update fires only when it names `state` or `expires_at`, and writes only when the row
    /// changes slice or state: a lease or a probe time names neither column, and never fires it.
    static let schema = """
        CREATE TABLE token_counts (
            state TEXT NOT NULL,
            slice INTEGER NOT NULL,
            tokens INTEGER NOT NULL,
            PRIMARY KEY (state, slice)
        ) WITHOUT ROWID;
        INSERT INTO token_counts (state, slice, tokens)
            SELECT state, expires_at >> \(shift), COUNT(*) FROM tokens GROUP BY 1, 2;
        CREATE TRIGGER token_counts_delete AFTER DELETE ON tokens
            BEGIN \(remove("old")) END;
        CREATE TRIGGER token_counts_update AFTER UPDATE OF state, expires_at ON tokens
            WHEN new.state IS NOT old.state OR \(slice("new")) IS NOT \(slice("old"))
            BEGIN \(remove("old")) \(add("new")) END;
        """
}
