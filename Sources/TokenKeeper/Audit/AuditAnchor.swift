/// Heads of the audit chain kept somewhere else, and the check that each is still in the chain.
///
/// The chain proves that its rows link; it cannot tell that it was cut short, or that the whole
/// file was rolled back to an older copy. A head written down elsewhere (a log shipper, a ticket)
/// can: `audit verify --anchor SEQ:HASH` confirms that row SEQ is still there with that hash.
extension AuditLog {
    /// The newest row: what `audit head` prints and the daemon logs after each pass that appended.
    package struct Head: Sendable, Equatable {
        package var seq: Int64
        package var hash: String
        /// When the row was appended; nil for an empty chain.
        package var at: UnixTime?

        package init(seq: Int64, hash: String, at: UnixTime?) {
            self.seq = seq
            self.hash = hash
            self.at = at
        }

        /// The chain's head in `store`: seq 0 and the genesis hash when it is empty.
        package static func read(_ store: any StoreReading) throws -> Head {
            var last: AuditRecord?
            try store.forEachAuditRecord(Query(limit: 1)) { last = $0 }
            guard let last else { return Head(seq: 0, hash: genesisHash, at: nil) }
            return Head(seq: last.seq, hash: last.hash, at: last.at)
        }

        /// `SEQ:HASH`, the form `--anchor` takes.
        package var anchor: Anchor { Anchor(seq: seq, hash: hash) }
    }

    /// A head recorded earlier: row `seq` had hash `hash`.
    package struct Anchor: Sendable, Equatable, CustomStringConvertible {
        package var seq: Int64
        package var hash: String

        package init(seq: Int64, hash: String) {
            self.seq = seq
            self.hash = hash
        }

        /// `SEQ:HASH` (64 lowercase hex digits; seq 0 only with the genesis hash, the head of an
        /// empty chain, which every chain holds); nil for anything else.
        package init?(_ text: String) {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0].allSatisfy(\.isASCII), let seq = Int64(parts[0]), seq >= 0,
                parts[1].count == 64, parts[1].allSatisfy({ $0.isHexDigit && !$0.isUppercase }),
                seq > 0 || parts[1] == genesisHash
            else { return nil }
            self.init(seq: seq, hash: String(parts[1]))
        }

        package var description: String { "\(seq):\(hash)" }
    }

    /// Walks the chain as ``verify(_:)`` does, checks every anchor against it (a chain that
    /// verifies but no longer holds an anchored row, or holds it with another hash, was cut
    /// short, rolled back or rewritten), the seal with `sealer`'s keys (``checkSeal``), then that
    /// the table's append-only guards are in place. Without a sealer the seal is not looked at.
    package static func verify(
        _ store: any StoreReading,
        anchors: [Anchor],
        sealer: TokenSealer? = nil
    ) throws -> Verification {
        let stored = sealer == nil ? nil : try store.auditSeal()
        let sealedSeq = stored.flatMap(AuditSeal.init).map(\.seq)
        var sealedHash: String?
        var audited = Set<String>()
        let verification = try verifyAnchors(store, anchors) { record in
            if record.seq == sealedSeq { sealedHash = record.hash }
            if let id = record.tokenID { audited.insert(id) }
        }
        guard case .intact(let count, let head) = verification else { return verification }
        if let sealer {
            if sealedSeq == 0 { sealedHash = genesisHash }
            let check = checkSeal(
                stored,
                head: Tail(seq: count, hash: head),
                hashAtSealedSeq: sealedHash,
                sealer: sealer
            )
            if case .fails(let reason) = check { return .unsealed(count: count, head: head, reason: reason) }
        }
        let untracked = try tokensWithoutHistory(store, audited: audited)
        if !untracked.isEmpty { return .untracked(count: count, head: head, ids: untracked) }
        let missing = try store.missingAuditGuards()
        return missing.isEmpty ? verification : .unguarded(count: count, head: head, missing: missing)
    }

    /// The stored tokens (read from their rows, up to 10 named) that no audit row mentions: put
    /// in by a writer without the key, past every command that audits.
    private static func tokensWithoutHistory(_ store: any StoreReading, audited: Set<String>) throws -> [String] {
        var untracked: [String] = []
        var after: String?
        while untracked.count < 10 {
            let page = try store.sealedTokenPage(after: after, limit: 10_000)
            guard let last = page.last else { break }
            untracked += page.lazy.map(\.id).filter { !audited.contains($0) }.prefix(10 - untracked.count)
            after = last.id
        }
        return untracked
    }

    /// The chain walk and the anchors, before the seal and the guards are looked at; `visit`
    /// sees each row that verified.
    private static func verifyAnchors(
        _ store: any StoreReading,
        _ anchors: [Anchor],
        visiting visit: (AuditRecord) -> Void
    ) throws -> Verification {
        let wanted = Set(anchors.map(\.seq))
        var seen: [Int64: String] = [:]
        let walked = try verify(store) { record in
            if wanted.contains(record.seq) { seen[record.seq] = record.hash }
            visit(record)
        }
        guard case .intact(let count, _) = walked else { return walked }
        for anchor in anchors.sorted(by: { $0.seq < $1.seq }) where anchor.seq > 0 {
            guard let hash = seen[anchor.seq] else {
                return .broken(
                    seq: anchor.seq,
                    reason: "the anchor \(anchor) is not in the chain, which ends at seq \(count): "
                        + "rows were cut from its end, or the store was rolled back to an older copy"
                )
            }
            guard hash == anchor.hash else {
                return .broken(
                    seq: anchor.seq,
                    reason:
                        "the row's hash is \(hash), not the anchored \(anchor.hash): the chain was rewritten from here"
                )
            }
        }
        return walked
    }
}
