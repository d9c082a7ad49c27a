import Crypto
import Foundation

/// The append-only, hash-chained audit log.
///
/// Row n stores `hash = SHA-256(prev_hash ‖ canonical(row n))` and `prev_hash` = row n−1's hash,
/// so editing, deleting or reordering a row breaks the chain at that row. Appends happen inside
/// the caller's write transaction: a token change and its audit row commit together or not at all.
package struct AuditLog: Sendable {
    /// The `prev_hash` of the first row.
    package static let genesisHash = String(repeating: "0", count: 64)

    /// The end of the chain, carried across appends within one transaction.
    package struct Tail: Sendable, Equatable {
        package var seq: Int64
        package var hash: String

        package init(seq: Int64, hash: String) {
            self.seq = seq
            self.hash = hash
        }

        /// The tail of an empty chain.
        package static let empty = Tail(seq: 0, hash: genesisHash)
    }

    package let actor: String
    private let encoder: JSONEncoder

    package init(actor: String) {
        self.actor = actor
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    }

    /// Appends one event after the current tail.
    @discardableResult
    package func append(
        _ store: any StoreWriting,
        event: AuditEvent,
        tokenID: String?,
        detail: AuditDetail,
        at: UnixTime
    ) throws -> AuditRecord {
        var tail = try store.auditTail()
        return try append(store, after: &tail, event: event, tokenID: tokenID, detailJSON: try encode(detail), at: at)
    }

    /// The detail as the JSON text that is stored and hashed.
    package func encode(_ detail: AuditDetail) throws -> String {
        String(decoding: try encoder.encode(detail), as: UTF8.self)
    }

    /// Appends one event whose detail is already encoded (by ``encode(_:)``) after `tail`, and
    /// moves `tail` forward: for many appends in one transaction.
    @discardableResult
    package func append(
        _ store: any StoreWriting,
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
        try store.appendAudit(record)
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
        /// The rows link, but the table's append-only guards (`missing`) are gone or disabled:
        /// anyone with write access could have rewritten rows and recomputed the chain.
        case unguarded(count: Int64, head: String, missing: [String])
        /// The rows link, but the seal checked with the master key does not match them: `reason`.
        case unsealed(count: Int64, head: String, reason: String)
        /// The rows link, but stored tokens (`ids`, the first few) have no audit row at all: they
        /// were written into the store past every command that audits.
        case untracked(count: Int64, head: String, ids: [String])

        /// What `audit verify` prints.
        package var description: String {
            switch self {
            case .intact(let count, let head): "audit chain intact: \(count) events, head \(head)"
            case .broken(let seq, let reason): "audit chain broken at seq \(seq): \(reason)"
            case .unguarded(let count, let head, let missing):
                "audit chain unguarded: \(count) events link up to head \(head), but the audit table's append-only "
                    + "triggers \(missing.joined(separator: ", ")) are missing or disabled: rows may have been rewritten "
                    + "and the chain recomputed; check it with the key and against an anchor (`audit verify --anchor`), "
                    + "then `tokenkeeper audit restore-triggers`"
            case .unsealed(let count, let head, let reason):
                "audit chain fails its seal: \(count) events link up to head \(head), but \(reason)"
            case .untracked(let count, let head, let ids):
                "audit chain does not account for stored tokens: \(count) events link up to head \(head), but "
                    + "\(ids.joined(separator: ", ")) have no audit row: they were written into the store outside "
                    + "tokenkeeper; restore it from a backup"
            }
        }
    }

    /// Walks the chain from the first row; stops at the first row that does not verify. `visit`
    /// sees each row that did.
    package static func verify(
        _ store: any StoreReading,
        visiting visit: (AuditRecord) -> Void = { _ in }
    ) throws -> Verification {
        var chain = ChainWalk()
        do {
            try store.forEachAuditRecord(Query()) {
                try chain.check($0)
                visit($0)
            }
        } catch let broken as Broken {
            return .broken(seq: broken.seq, reason: broken.reason)
        }
        return .intact(count: chain.expectedSeq - 1, head: chain.expectedPrev)
    }

    /// The first row that does not verify, thrown to stop the walk there.
    private struct Broken: Error {
        var seq: Int64
        var reason: String
    }

    /// The walk's position: the seq and `prev_hash` the next row must have.
    private struct ChainWalk {
        var expectedPrev = genesisHash
        var expectedSeq: Int64 = 1

        mutating func check(_ row: AuditRecord) throws {
            if row.seq != expectedSeq {
                throw Broken(seq: row.seq, reason: "expected seq \(expectedSeq): rows are missing before it")
            }
            if row.prevHash != expectedPrev {
                throw Broken(seq: row.seq, reason: "prev_hash does not match the hash of the row before")
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
                throw Broken(seq: row.seq, reason: "the row's content does not match its hash (edited)")
            }
            expectedPrev = row.hash
            expectedSeq += 1
        }
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
    }
}
