import PostgresNIO
import TokenKeeper

/// The fleet's rate windows on PostgreSQL.
extension PostgresTransaction {
    /// One upsert: two hosts taking places of one window at once serialize on its row; `used` is
    /// the first place not yet given, `granted` how many this call got (every SET reads the old
    /// row).
    func takeRatePlaces(
        project: String,
        window: Int64,
        limit: Int,
        wanted: Int,
        from: Int,
        keeping: ClosedRange<Int64>
    ) throws -> Range<Int> {
        let sql = """
            WITH forgotten AS (DELETE FROM rate_slots WHERE window_start NOT BETWEEN $6 AND $7)
            INSERT INTO rate_slots AS r (window_start, project, used, granted)
            VALUES ($1, $2, LEAST($3 + $4, $5), LEAST($3 + $4, $5) - $3)
            ON CONFLICT (window_start, project) DO UPDATE
            SET used = LEAST(GREATEST(r.used, $3) + $4, $5), granted = LEAST(GREATEST(r.used, $3) + $4, $5) - GREATEST(r.used, $3)
            RETURNING used, granted
            """
        let from = min(max(from, 0), limit)
        let rows = try execute(
            PostgresQuery(
                unsafeSQL: sql,
                binds: binds(window, project, from, wanted, limit, keeping.lowerBound, keeping.upperBound)
            )
        )
        guard let (used, granted) = try rows.first?.decode((Int, Int).self) else { return 0..<0 }
        return max(0, used - granted)..<used
    }
}
