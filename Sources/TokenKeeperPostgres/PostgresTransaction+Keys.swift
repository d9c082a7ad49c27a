import Foundation
import PostgresNIO
import TokenKeeper

/// The audit seal as a write transaction carries it: read with the locked head, moved with it.
final class PostgresSealing {
    let sealer: TokenSealer
    /// The seal as the head row holds it (read by `auditTail`, then as this transaction moved it).
    var stored: String?

    init(sealer: TokenSealer) { self.sealer = sealer }

    /// The seal for the head moved from before `first` to `last`, or nil to leave it as it is.
    func next(after first: AuditRecord, to last: AuditRecord) -> String? {
        let next = sealer.nextSeal(
            stored: stored,
            from: AuditLog.Tail(seq: first.seq - 1, hash: first.prevHash),
            to: AuditLog.Tail(seq: last.seq, hash: last.hash)
        )
        if next != nil { stored = next }
        return next
    }
}

/// The audit seal and the sealed values as key rotation reads and rewrites them.
extension PostgresTransaction {
    func auditSeal() throws -> String? {
        try execute("SELECT seal FROM audit_head WHERE id = 1").first?.decode(String?.self) ?? nil
    }

    func setAuditSeal(_ seal: String) throws {
        try execute("UPDATE audit_head SET seal = \(seal) WHERE id = 1")
        sealing?.stored = seal
    }

    /// One UPDATE: under READ COMMITTED a second writer waits for the first, then finds the old
    /// value gone and replaces nothing.
    func replaceKeyCheck(_ old: String, with new: String) throws -> Bool {
        try execute("UPDATE meta SET value = \(new) WHERE key = 'key_check' AND value = \(old) RETURNING 1").count == 1
    }

    func countSealedTokens(startingWith prefixes: [Data]) throws -> [Int] {
        guard !prefixes.isEmpty else { return [] }
        var binds = PostgresBindings()
        var counts: [String] = []
        for prefix in prefixes {
            binds.append(ByteBuffer(bytes: prefix))
            counts.append(
                "COUNT(*) FILTER (WHERE substring(sealed_token from 1 for \(prefix.count)) = $\(binds.count))"
            )
        }
        let row = try execute(
            PostgresQuery(unsafeSQL: "SELECT " + counts.joined(separator: ", ") + " FROM tokens", binds: binds)
        )
        guard let row = row.first else { return prefixes.map { _ in 0 } }
        return try row.map { try $0.decode(Int.self) }
    }

    func sealedTokenPage(after id: String?, limit: Int) throws -> [(id: String, sealed: Data)] {
        try execute("SELECT id, sealed_token FROM tokens WHERE id > \(id ?? "") ORDER BY id LIMIT \(limit)").map {
            let (id, sealed) = try $0.decode((String, ByteBuffer).self)
            return (id, Data(sealed.readableBytesView))
        }
    }

    /// The guards as the first schema made them: its function and triggers dropped and made again.
    func restoreAuditGuards() throws {
        for name in PostgresSchema.auditGuardNames {
            try execute(PostgresQuery(unsafeSQL: "DROP TRIGGER IF EXISTS \(name) ON audit"))
        }
        try execute("DROP FUNCTION IF EXISTS tokenkeeper_audit_append_only()")
        for statement in PostgresSchema.auditGuardStatements { try execute(PostgresQuery(unsafeSQL: statement)) }
    }

    func replaceSealedToken(id: String, from old: Data, to new: Data) throws -> Bool {
        try execute(
            PostgresQuery(
                unsafeSQL: "UPDATE tokens SET sealed_token = $1 WHERE id = $2 AND sealed_token = $3 RETURNING 1",
                binds: {
                    var binds = PostgresBindings()
                    binds.append(ByteBuffer(bytes: new))
                    binds.append(id)
                    binds.append(ByteBuffer(bytes: old))
                    return binds
                }()
            )
        ).count == 1
    }

    /// Whether the store holds a token or an audit row: only a store without either is new.
    func hasHistory() throws -> Bool {
        try execute("SELECT EXISTS (SELECT 1 FROM tokens) OR EXISTS (SELECT 1 FROM audit)").first?.decode(Bool.self)
            ?? false
    }

    func lockKeyCheck() throws -> String? {
        try execute("SELECT value FROM meta WHERE key = 'key_check' FOR SHARE").first?.decode(String.self)
    }

    func countTokenRows() throws -> Int {
        try execute("SELECT count(*) FROM tokens").first?.decode(Int.self) ?? 0
    }
}
