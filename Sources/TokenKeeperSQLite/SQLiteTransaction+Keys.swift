import Foundation
import GRDB
import TokenKeeper

/// The audit seal and the sealed values as key rotation reads and rewrites them.
extension SQLiteTransaction {
    // Read and written after every write that appends: prepared once per connection.
    func auditSeal() throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = 'audit_seal'"))
    }

    func setAuditSeal(_ seal: String) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('audit_seal', ?)")
            .execute(arguments: [seal])
    }

    func countSealedTokens(startingWith prefixes: [Data]) throws -> [Int] {
        guard !prefixes.isEmpty else { return [] }
        let sums = prefixes.map { "COALESCE(SUM(substr(sealed_token, 1, \($0.count)) = ?), 0)" }
        let row = try Row.fetchOne(
            db,
            sql: "SELECT " + sums.joined(separator: ", ") + " FROM tokens",
            arguments: StatementArguments(prefixes)
        )
        return (0..<prefixes.count).map { row?[$0] ?? 0 }
    }

    func sealedTokenPage(after id: String?, limit: Int) throws -> [(id: String, sealed: Data)] {
        let rows = try Row.fetchAll(
            db,
            sql: "SELECT id, sealed_token FROM tokens WHERE id > ? ORDER BY id LIMIT ?",
            arguments: [id ?? "", limit]
        )
        return rows.map { ($0[0], $0[1]) }
    }

    func restoreAuditGuards() throws {
        for name in SQLiteMigrations.auditGuardNames { try db.execute(sql: "DROP TRIGGER IF EXISTS \(name)") }
        try db.execute(sql: SQLiteMigrations.auditGuards)
    }

    func replaceSealedToken(id: String, from old: Data, to new: Data) throws -> Bool {
        try db.execute(
            sql: "UPDATE tokens SET sealed_token = ? WHERE id = ? AND sealed_token = ?",
            arguments: [new, id, old]
        )
        return db.changesCount == 1
    }
}

/// Where a write transaction's appends moved the chain from and to.
final class AppendedRange {
    private(set) var start: AuditLog.Tail?
    private(set) var end: AuditLog.Tail?

    func note(_ record: AuditRecord) {
        if start == nil { start = AuditLog.Tail(seq: record.seq - 1, hash: record.prevHash) }
        end = AuditLog.Tail(seq: record.seq, hash: record.hash)
    }
}
