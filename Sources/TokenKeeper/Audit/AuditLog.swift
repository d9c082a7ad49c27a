import Crypto
import Foundation
import GRDB

/// The append-only, hash-chained audit log.
///
/// Row n stores `hash = SHA-256(prev_hash ‖ canonical(row n))` and `prev_hash` = row n−1's hash,
/// so editing, deleting or reordering a row breaks the chain at that row. Appends happen inside
/// the caller's write transaction: a token change and its audit row commit together or not at all.
package struct AuditLog: Sendable {
    /// The `prev_hash` of the first row.
    package static let genesisHash = String(repeating: "0", count: 64)

    /// The end of the chain, carried across appends within one transaction.
    package struct Tail: Sendable {
        package var seq: Int64
        package var hash: String
    }

    package let actor: String
    private let encoder: JSONEncoder

    package init(actor: String) {
        self.actor = actor
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    }

    /// The last row's seq and hash (or the genesis hash), read in the caller's transaction.
    package static func tail(_ db: Database) throws -> Tail {
        let row = try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        return Tail(seq: row?["seq"] ?? 0, hash: row?["hash"] ?? genesisHash)
    }

    /// Appends one event after the current tail.
    @discardableResult
    package func append(
        _ db: Database,
        event: AuditEvent,
        tokenID: String?,
        detail: AuditDetail,
        at: UnixTime
    ) throws -> AuditRecord {
        var tail = try Self.tail(db)
        return try append(db, after: &tail, event: event, tokenID: tokenID, detailJSON: try encode(detail), at: at)
    }

    /// The detail as the JSON text that is stored and hashed.
    package func encode(_ detail: AuditDetail) throws -> String {
        String(decoding: try encoder.encode(detail), as: UTF8.self)
    }

    /// Appends one event whose detail is already encoded (by ``encode(_:)``) after `tail`, and
    /// moves `tail` forward: for many appends in one transaction.
    @discardableResult
    package func append(
        _ db: Database,
        after tail: inout Tail,
        event: AuditEvent,
        tokenID: String?,
        detailJSON detailText: String,
        at: UnixTime
    ) throws -> AuditRecord {
        let seq = tail.seq + 1
        let hash = Self.hash(
            prevHash: tail.hash,
            seq: seq,
            at: at,
            tokenID: tokenID,
            event: event.rawValue,
            actor: actor,
            detail: detailText
        )
        let record = AuditRecord(
            seq: seq,
            at: at,
            tokenID: tokenID,
            event: event.rawValue,
            actor: actor,
            detail: detailText,
            prevHash: tail.hash,
            hash: hash
        )
        let statement = try db.cachedStatement(
            sql:
                "INSERT INTO audit (seq, at, token_id, event, actor, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        try statement.execute(arguments: [seq, at, tokenID, event.rawValue, actor, detailText, tail.hash, hash])
        tail = Tail(seq: seq, hash: hash)
        return record
    }

    /// SHA-256 over the previous hash and the row's fields, each length-prefixed so that no two
    /// different rows share a canonical form.
    package static func hash(
        prevHash: String,
        seq: Int64,
        at: UnixTime,
        tokenID: String?,
        event: String,
        actor: String,
        detail: String
    ) -> String {
        var canonical: [UInt8] = []
        canonical.reserveCapacity(256 + detail.utf8.count)
        for field in [prevHash, String(seq), String(at.seconds), tokenID ?? "", event, actor, detail] {
            canonical.append(contentsOf: String(field.utf8.count).utf8)
            canonical.append(UInt8(ascii: ":"))
            canonical.append(contentsOf: field.utf8)
        }
        return SHA256.hash(data: canonical).hex
    }

    /// The result of walking the chain.
    package enum Verification: Sendable, Equatable {
        /// Every row links to the one before; `head` is the last row's hash (genesis when empty).
        case intact(count: Int64, head: String)
        /// The first row that does not verify, and why.
        case broken(seq: Int64, reason: String)

        /// What `audit verify` prints.
        package var description: String {
            switch self {
            case .intact(let count, let head): "audit chain intact: \(count) events, head \(head)"
            case .broken(let seq, let reason): "audit chain broken at seq \(seq): \(reason)"
            }
        }
    }

    /// Walks the chain from the first row; stops at the first row that does not verify.
    package static func verify(_ db: Database) throws -> Verification {
        var expectedPrev = genesisHash
        var expectedSeq: Int64 = 1
        let rows = try AuditRecord.order(AuditRecord.Columns.seq).fetchCursor(db)
        while let row = try rows.next() {
            if row.seq != expectedSeq {
                return .broken(seq: row.seq, reason: "expected seq \(expectedSeq): rows are missing before it")
            }
            if row.prevHash != expectedPrev {
                return .broken(seq: row.seq, reason: "prev_hash does not match the hash of the row before")
            }
            let recomputed = hash(
                prevHash: row.prevHash,
                seq: row.seq,
                at: row.at,
                tokenID: row.tokenID,
                event: row.event,
                actor: row.actor,
                detail: row.detail
            )
            if recomputed != row.hash {
                return .broken(seq: row.seq, reason: "the row's content does not match its hash (edited)")
            }
            expectedPrev = row.hash
            expectedSeq += 1
        }
        return .intact(count: expectedSeq - 1, head: expectedPrev)
    }

    /// A filter over the log, as `tokenkeeper audit` takes it.
    package struct Query: Sendable {
        package var tokenID: String?
        package var event: AuditEvent?
        package var since: UnixTime?
        package var limit: Int?

        package init(tokenID: String? = nil, event: AuditEvent? = nil, since: UnixTime? = nil, limit: Int? = nil) {
            self.tokenID = tokenID
            self.event = event
            self.since = since
            self.limit = limit
        }

        func request() -> QueryInterfaceRequest<AuditRecord> {
            var request = AuditRecord.all()
            if let tokenID { request = request.filter(AuditRecord.Columns.tokenID == tokenID) }
            if let event { request = request.filter(AuditRecord.Columns.event == event.rawValue) }
            if let since { request = request.filter(AuditRecord.Columns.at >= since) }
            guard let limit else { return request.order(AuditRecord.Columns.seq) }
            // The most recent `limit` rows, printed oldest first.
            let recent = request.select(AuditRecord.Columns.seq).order(AuditRecord.Columns.seq.desc).limit(limit)
            return AuditRecord.filter(recent.contains(AuditRecord.Columns.seq)).order(AuditRecord.Columns.seq)
        }
    }

    /// Calls `body` with each matching row, in seq order, without holding them all in memory.
    package static func forEach(
        _ db: Database,
        matching query: Query,
        _ body: (AuditRecord) throws -> Void
    ) throws {
        let cursor = try query.request().fetchCursor(db)
        while let record = try cursor.next() { try body(record) }
    }
}
