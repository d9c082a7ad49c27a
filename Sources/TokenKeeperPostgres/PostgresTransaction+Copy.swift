import NIOCore
import PostgresNIO
import TokenKeeper

/// Many rows at once through `COPY ... FROM STDIN` (text format): what `import` and `copy` send.
/// A round trip per batch instead of statements of thousands of parameters, which the server
/// spent longer parsing and planning than storing the rows (import: 13.3 s for 100,000 tokens
/// with multi-row INSERTs, 9 CPU s of it in the server's backend).
extension PostgresTransaction {
    /// The fewest rows worth a COPY; fewer go as one multi-row statement.
    static let copyThreshold = 64

    /// Many rows through COPY (``copyTokens(_:)``); fewer than ``copyThreshold`` as one
    /// multi-row INSERT. An id twice in `records` is sent once: `RETURNING` would name it as
    /// inserted for both rows, so the later one is returned taken, as one ``insertToken(_:)``
    /// after another would.
    func insertTokens(_ records: [TokenRecord]) throws -> [String] {
        if records.count >= Self.copyThreshold { return try copyTokens(records) }
        var seen = Set<String>()
        var repeated = Set<Int>()
        var arguments = PostgresBindings(capacity: records.count * 17)
        var values: [String] = []
        for (index, record) in records.enumerated() {
            guard seen.insert(record.id).inserted else {
                repeated.insert(index)
                continue
            }
            let base = arguments.count
            try PostgresSchema.append(record, to: &arguments)
            values.append("(" + (1...17).map { "$\(base + $0)" }.joined(separator: ", ") + ")")
        }
        guard !values.isEmpty else { return [] }
        let sql = """
            INSERT INTO tokens (\(PostgresSchema.tokenColumns)) VALUES \(values.joined(separator: ", "))
            ON CONFLICT (id) DO NOTHING RETURNING id
            """
        let inserted = Set(
            try execute(PostgresQuery(unsafeSQL: sql, binds: arguments)).map { try $0.decode(String.self) }
        )
        return records.indices.filter { repeated.contains($0) || !inserted.contains(records[$0].id) }.map {
            records[$0].id
        }
    }

    /// Inserts `records` with one COPY into the table. COPY has no `ON CONFLICT`, so the ids
    /// already stored (and an id twice in `records`) are looked up first and returned, their rows
    /// not written, as ``insertTokens(_:)`` promises. An id another session stores between the
    /// lookup and the COPY (two random 48-bit ids alike, at the same moment) fails the
    /// transaction with the unique violation: nothing is written, the command can be run again.
    func copyTokens(_ records: [TokenRecord]) throws -> [String] {
        let ids = records.map(\.id)
        var taken = Set(try execute("SELECT id FROM tokens WHERE id = ANY(\(ids))").map { try $0.decode(String.self) })
        var refused: [String] = []
        var rows: [TokenRecord] = []
        rows.reserveCapacity(records.count)
        for record in records {
            guard taken.insert(record.id).inserted else {
                refused.append(record.id)
                continue
            }
            rows.append(record)
        }
        try startCopy(rows, into: "tokens", columns: PostgresSchema.tokenColumnNames) {
            try Self.appendRow(of: $0, to: &$1)
        }
        return refused
    }

    /// Moves the chain head from where the first queued row links to the last (a head that moved
    /// meanwhile fails the transaction), then sends the rows with one COPY.
    func copyAudit(_ rows: [AuditRecord]) throws {
        guard let first = rows.first, let last = rows.last else { return }
        let seal = sealing?.next(after: first, to: last)
        let moved = try send(
            """
            UPDATE audit_head SET seq = \(last.seq), hash = \(last.hash), seal = COALESCE(\(seal), seal)
            WHERE id = 1 AND seq = \(first.seq - 1) RETURNING 1
            """
        )
        guard moved.count == 1 else { throw Self.headMoved }
        try startCopy(rows, into: "audit", columns: PostgresSchema.auditColumnNames) { record, text in
            Self.append(
                [
                    "\(record.seq)", "\(record.at.seconds)", record.tokenID, record.event, record.actor, record.detail,
                    record.prevHash, record.hash,
                ],
                to: &text
            )
        }
    }

    static let headMoved = TokenKeeperError(
        .database,
        "the audit chain's head moved during this transaction; nothing was written"
    )

    /// Starts a COPY of `rows` into `table`, each written by `encode` in COPY's text format, and
    /// returns before the server has them: the caller goes on (hashing the next audit rows) while
    /// the PostgreSQL thread encodes and sends them, a chunk at a time, and the server stores the
    /// chunks as they come. The transaction's next statement waits for it (``finishCopy()``), so
    /// its error fails the transaction there. A million-token import took 56 and 67 s
    /// before, 52 and 49 s after, in alternating runs (<doc:Performance>).
    private func startCopy<Row: Sendable>(
        _ rows: [Row],
        into table: String,
        columns: [String],
        encode: @escaping @Sendable (Row, inout ByteBuffer) throws -> Void
    ) throws {
        try finishCopy()
        guard !rows.isEmpty else { return }
        let connection = connection
        copying = PostgresThread.shared.start {
            try await connection.copyFrom(table: table, columns: columns, logger: Self.logger) { writer in
                for start in stride(from: 0, to: rows.count, by: 1_024) {
                    var text = ByteBuffer()
                    text.reserveCapacity(1_024 * 440)
                    for row in rows[start..<min(start + 1_024, rows.count)] { try encode(row, &text) }
                    try await writer.write(text)
                }
            }
        }
    }

    /// A token's row in COPY's text format, in ``PostgresSchema/tokenColumns`` order.
    static func appendRow(of record: TokenRecord, to text: inout ByteBuffer) throws {
        // The sealed bytes as bytea's hex input (`\x…`), its backslash escaped for COPY.
        var sealed = "\\x"
        sealed.reserveCapacity(2 + record.sealedToken.count * 2)
        let digits = Array("0123456789abcdef".utf8)
        var hex = [UInt8]()
        hex.reserveCapacity(record.sealedToken.count * 2)
        for byte in record.sealedToken {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        sealed += String(decoding: hex, as: UTF8.self)
        append(
            [
                record.id, record.projectID, record.label, record.wabaID, record.businessManager, sealed,
                record.fingerprint, "\(record.issuedAt.seconds)", "\(record.expiresAt.seconds)",
                "\(record.refreshAt.seconds)", record.state.rawValue, "\(record.failures)",
                try record.lastError?.storedJSON(), record.lastRefreshedAt.map { "\($0.seconds)" },
                record.leaseOwner, record.leaseUntil.map { "\($0.seconds)" }, "\(record.version)",
            ],
            to: &text
        )
    }

    /// One line of COPY's text format: fields apart by tabs, `\N` for NULL, and a backslash, tab,
    /// newline or carriage return in a value escaped.
    static func append(_ fields: [String?], to text: inout ByteBuffer) {
        for (index, field) in fields.enumerated() {
            if index > 0 { text.writeInteger(UInt8(ascii: "\t")) }
            guard let field else {
                text.writeStaticString("\\N")
                continue
            }
            let special = field.utf8.contains { $0 == 0x5C || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
            guard special else {
                text.writeString(field)
                continue
            }
            for byte in field.utf8 {
                switch byte {
                case 0x5C: text.writeStaticString("\\\\")
                case 0x09: text.writeStaticString("\\t")
                case 0x0A: text.writeStaticString("\\n")
                case 0x0D: text.writeStaticString("\\r")
                default: text.writeInteger(byte)
                }
            }
        }
        text.writeInteger(UInt8(ascii: "\n"))
    }
}
