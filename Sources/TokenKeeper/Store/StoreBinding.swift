import WallTime

extension TokenStore {
    /// Stores the key check and the audit seal of a new store, or checks the keys against the
    /// stored check; then installs `sealer` to seal the chain's head on every append.
    ///
    /// Every command that seals or opens a token calls this before it writes anything, so a
    /// wrong key is caught before it can seal a token no one could open. A store from before
    /// the seal (its check in the old form) gets its head sealed now, and its check moves to the
    /// sealed form in the same transaction: from then on a missing seal is a removed one.
    package func bind(to sealer: TokenSealer) throws {
        let keyring = sealer.keyring
        let wrongKey = TokenKeeperError(
            .wrongKey,
            "the master key from \(keyring.source) does not match this database (\(location)); nothing was written"
        )
        let stored = try read { try $0.keyCheck() }
        if let stored, keyring.entries.contains(where: { $0.check == stored }) {
            installAuditSealer(sealer)
            return
        }
        if let stored, !keyring.entries.contains(where: { $0.legacyCheck == stored }) { throw wrongKey }
        try write { store in
            let check = try store.keyCheck()
            if let check, keyring.entries.contains(where: { $0.check == check }) { return }
            let entry: Keyring.Entry
            if let check {
                // The store's key from before the seal: its check moves to the sealed form.
                guard let legacy = keyring.entries.first(where: { $0.legacyCheck == check }) else { throw wrongKey }
                entry = legacy
            } else {
                // Only a store without a token or an audit row is new. One with history but no key
                // check had it removed by someone without the key, to have a forged chain sealed:
                // refuse, whatever a cache says.
                guard try !store.hasHistory() else {
                    throw TokenKeeperError(
                        .database,
                        "database \(location) has tokens or audit history but no key check: it was altered by "
                            + "someone without the master key, and sealing it now would vouch for what they wrote. "
                            + "Nothing was written; restore the database from a backup, or compare its audit chain "
                            + "with your anchors (`audit verify --anchor-file`) before you trust it"
                    )
                }
                entry = keyring.current
            }
            if let check {
                // Another process upgraded it meanwhile: nothing to do.
                guard try store.replaceKeyCheck(check, with: entry.check) else { return }
                // Covered by the seal below: a second such event in a chain means someone put the
                // old key check back to have a forged chain sealed.
                _ = try AuditLog(actor: "tokenkeeper").append(
                    store,
                    event: .auditSealed,
                    tokenID: nil,
                    detail: AuditDetail(
                        note: "the chain's head sealed at its first open with the key",
                        keyID: entry.id
                    ),
                    at: SystemClock().now
                )
            } else {
                try store.setKeyCheck(entry.check)
            }
            try store.setAuditSeal(sealer.sealHead(try store.auditTail()).description)
        }
        // Another process may have bound a different key between our read and our write.
        guard let now = try read({ try $0.keyCheck() }), keyring.entries.contains(where: { $0.check == now }) else {
            throw wrongKey
        }
        installAuditSealer(sealer)
    }

    /// Whether a key has been bound to this store.
    package func hasKeyCheck() throws -> Bool {
        try read { try $0.keyCheck() } != nil
    }
}
