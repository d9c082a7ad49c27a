import PostgresNIO
import TokenKeeper

/// The fleet's rate windows on PostgreSQL.
extension PostgresTransaction {
    /// One upsert: two hosts taking slots of one window at once serialize on its row, and the
    /// count never passes `limit`; `granted` is computed from the count before (every SET reads
    /// the old row).
    func takeRateSlots(project: String, window: Int64, limit: Int, wanted: Int, forgetBefore: Int64) throws -> Int {
        let sql = """
            WITH forgotten AS (DELETE FROM rate_slots WHERE window_start < $5)
            INSERT INTO rate_slots AS r (window_start, project, used, granted) VALUES ($1, $2, LEAST($3, $4), LEAST($3, $4))
            ON CONFLICT (window_start, project) DO UPDATE
            SET used = LEAST(r.used + excluded.granted, $4), granted = LEAST(r.used + excluded.granted, $4) - r.used
            RETURNING granted
            """
        let rows = try execute(
            PostgresQuery(unsafeSQL: sql, binds: binds(window, project, wanted, limit, forgetBefore))
        )
        return try rows.first?.decode(Int.self) ?? 0
    }
}
