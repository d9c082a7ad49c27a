import Foundation

/// `tokenkeeper copy`: every token and the whole audit chain of one store, verbatim, into an
/// empty store of either backend (<doc:Operations#Backups-and-moving-between-stores>).
///
/// The source is read in one transaction, so the copy is one consistent moment of it while
/// daemons keep writing; the target is written in one transaction, so a failed copy leaves it
/// empty. Tokens keep their sealed bytes, schedule, state and `version`; leases are not copied
/// (they name processes of the source's fleet). Audit rows keep their seq, time, actor and hashes,
/// so the target's chain is the source's, head for head. No master key is needed: nothing is
/// opened, and the key check goes across with the tokens.
package struct StoreCopy: Sendable {
    /// Rows per bulk insert.
    package static let batchSize = 1_000

    /// What was copied, checked on the target after the commit.
    package struct Summary: Sendable, Equatable {
        package var tokens: Int
        package var auditEvents: Int64
        /// The target's chain head after the copy: the source's head at the moment it was read.
        package var auditHead: String
    }

    package let source: any TokenStore
    package let target: any TokenStore

    package init(from source: any TokenStore, to target: any TokenStore) {
        self.source = source
        self.target = target
    }

    /// Copies, then walks the target's chain; nothing is written to the target unless all of it
    /// goes, and the source is only read.
    package func run() throws -> Summary {
        let (tokens, tail) = try source.read { from in
            try target.write(bulk: true) { to in
                try copy(Side(store: from, owner: source), Side(store: to, owner: target))
            }
        }
        // The walk reads what was committed: a backend that lost or changed a row fails here.
        let verification = try target.read { try AuditLog.verify($0) }
        guard case .intact(let count, let head) = verification, count == tail.seq, head == tail.hash else {
            throw TokenKeeperError(
                .database,
                "the copy in \(target.location) does not match its source: \(verification.description)"
            )
        }
        return Summary(tokens: tokens, auditEvents: count, auditHead: head)
    }

    /// One store's transaction inside the other's: an error of either store's driver is mapped by
    /// that store before it crosses the other's transaction, which would not know it.
    private struct Side<Transaction> {
        let store: Transaction
        let owner: any TokenStore

        func callAsFunction<T>(_ body: (Transaction) throws -> T) throws -> T {
            do { return try body(store) } catch { throw owner.mapError(error) }
        }
    }

    private func copy(_ from: Side<any StoreReading>, _ to: Side<any StoreWriting>) throws -> (Int, AuditLog.Tail) {
        try to { try refuseUnlessEmpty($0) }
        if let check = try from({ try $0.keyCheck() }) {
            if let existing = try to({ try $0.keyCheck() }) {
                guard existing == check else {
                    throw TokenKeeperError(
                        .wrongKey,
                        "\(target.location) is bound to another master key than \(source.location); nothing was copied"
                    )
                }
            } else {
                try to { try $0.setKeyCheck(check) }
            }
        }
        var batch: [TokenRecord] = []
        batch.reserveCapacity(Self.batchSize)
        var tokens = 0
        func flush() throws {
            let taken = try to { try $0.insertTokens(batch) }
            guard taken.isEmpty else {
                // Only another writer can have put them there, between the check and now.
                throw TokenKeeperError(
                    .alreadyStored,
                    "\(target.location) gained token \(taken[0]) while copying; nothing was copied"
                )
            }
            tokens += batch.count
            batch.removeAll(keepingCapacity: true)
        }
        try from {
            try $0.forEachToken(TokenFilter()) { record in
                var record = record
                record.leaseOwner = nil
                record.leaseUntil = nil
                batch.append(record)
                if batch.count == Self.batchSize { try flush() }
            }
        }
        try flush()
        let tail = try from { try $0.auditTail() }
        try from {
            try $0.forEachAuditRecord(AuditLog.Query()) { record in
                // Rows after the tail read above cannot exist in this snapshot; stop at it regardless.
                guard record.seq <= tail.seq else { return }
                try to { try $0.appendAudit(record) }
            }
        }
        // The seal as it is: the copy's chain ends where the source's did, under the same keys.
        if let seal = try from({ try $0.auditSeal() }) { try to { try $0.setAuditSeal(seal) } }
        return (tokens, tail)
    }

    /// A copy only fills an empty store: merging two chains would fork them.
    private func refuseUnlessEmpty(_ to: any StoreWriting) throws {
        let tokens = try to.countTokens(.all)
        let events = try to.auditTail().seq
        guard tokens == 0, events == 0 else {
            throw TokenKeeperError(
                .alreadyStored,
                "\(target.location) already holds \(counted(tokens, "token")) and \(counted(events, "audit event")); "
                    + "copy writes only into an empty store; nothing was copied"
            )
        }
    }
}
