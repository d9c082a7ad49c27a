import Foundation
import WallTime

/// `key list`, `key rotate` and `key retire`: the keyring file and the tokens sealed under each
/// of its keys (<doc:Operations#Rotating-the-master-key>).
///
/// Rotation writes the new keyring first (a new file renamed over the old one), then makes the
/// store's key check the new key's, then re-seals the tokens a page at a time, each page in its
/// own transaction. Killed at any moment, every token still opens with the keyring on disk, and
/// running `key rotate` again finishes the re-sealing before it would add another key.
package struct KeyRotation: Sendable {
    package let store: any TokenStore
    package let sealer: TokenSealer
    package let clock: any WallClock
    let audit: AuditLog

    /// Tokens read and re-sealed per transaction.
    static let pageSize = 1_000

    package init(store: any TokenStore, sealer: TokenSealer, clock: any WallClock, actor: String) {
        self.store = store
        self.sealer = sealer
        self.clock = clock
        audit = AuditLog(actor: actor)
    }

    /// One key as `key list` shows it.
    package struct KeyInfo: Sendable, Equatable {
        package var id: String
        package var createdAt: UnixTime?
        package var current: Bool
        /// Tokens sealed under it.
        package var tokens: Int
    }

    /// Every key of the keyring with its tokens. A value sealed before keyrings names no key: it
    /// counts for the key that has no creation time (the store's first key, from before `key
    /// rotate`), as only that key can have sealed it.
    package func list() throws -> [KeyInfo] {
        try store.read { try list(in: $0, sealer.keyring) }
    }

    /// Each key's tokens counted by the header of their sealed values. Values without a known
    /// header (sealed before key ids, or under a key the keyring lacks) are opened to tell: each
    /// counts for the key that opens it, or under its header's id as a key not in the keyring
    /// (`unknown` when it names none). In a keyring of one key, a value without the version byte
    /// is that key's (only it sealed before key ids), and only values that have it are opened.
    private func list(in store: any StoreReading, _ keyring: Keyring) throws -> [KeyInfo] {
        let headers = keyring.entries.map(\.header)
        let counts = try store.countSealedTokens(startingWith: headers + [Data([TokenSealer.formatVersion])])
        var keys = zip(keyring.entries, counts).map { entry, count in
            KeyInfo(id: entry.id, createdAt: entry.createdAt, current: entry.id == keyring.currentID, tokens: count)
        }
        let known = counts.dropLast().reduce(0, +)
        let versionless = try store.countTokenRows() - counts.last!
        let single = keyring.entries.count == 1
        if single { keys[0].tokens += versionless }
        guard counts.last! > known || (!single && versionless > 0) else { return keys }
        let knownIDs = Set(keyring.entries.map(\.id))
        var missing: [String: Int] = [:]
        var after: String?
        while true {
            let page = try store.sealedTokenPage(after: after, limit: Self.pageSize)
            for (id, sealed) in page {
                let versioned = sealed.first == TokenSealer.formatVersion
                let named = TokenSealer.keyID(ofSealed: sealed)
                if let named, knownIDs.contains(named) { continue }
                if single, !versioned { continue }
                if let opener = TokenSealer.keyID(opening: sealed, id: id, in: keyring),
                    let index = keys.firstIndex(where: { $0.id == opener })
                {
                    keys[index].tokens += 1
                } else {
                    missing[named ?? "unknown", default: 0] += 1
                }
            }
            guard page.count == Self.pageSize, let last = page.last else { break }
            after = last.id
        }
        return keys
            + missing.sorted { $0.key < $1.key }.map {
                KeyInfo(id: $0.key, createdAt: nil, current: false, tokens: $0.value)
            }
    }

    /// What `key rotate` did.
    package struct Summary: Sendable, Equatable {
        /// The key that seals now.
        package var keyID: String
        /// False when an unfinished rotation was finished instead of a new key being added.
        package var addedKey: Bool
        package var resealed: Int
        /// Tokens still sealed under older keys: written meanwhile by a process that still holds
        /// the old keyring. Running `key rotate` again re-seals them.
        package var remaining: Int
    }

    /// Adds a fresh key, makes it current and re-seals every token under it; or, when tokens are
    /// still sealed under older keys (a rotation that was stopped), finishes that first.
    /// `progress` hears the running count after each page.
    package func rotate(progress: (Int) -> Void = { _ in }) throws -> Summary {
        let (path, lock, before, text) = try lockedKeyring(doing: "key rotation writes a new key to the keyring file")
        defer { close(lock) }
        let startCheck = try store.read { try $0.keyCheck() }
        guard let startCheck, let storeKey = before.entries.first(where: { $0.check == startCheck }) else {
            throw TokenKeeperError(
                .wrongKey,
                "the store's key changed since this command started (another `key rotate`, on another host?); nothing was rotated"
            )
        }
        var keyring = before
        let addedKey: Bool
        // A key made by a rotation after the file's current one: that rotation was stopped.
        let staged = before.entries.filter { entry in
            guard let made = entry.createdAt else { return false }
            return before.current.createdAt.map { made > $0 } ?? true
        }.max { $0.createdAt! < $1.createdAt! }
        if let staged, staged.id == storeKey.id {
            // Stopped after the store took the new key, before the file said so: say it now.
            addedKey = false
            keyring = before.making(current: staged.id)
            try keyring.write(replacing: path)
        } else if let staged, storeKey.id == before.currentID {
            // Stopped before the store took it: move the store, then the file.
            addedKey = false
            keyring = before.making(current: staged.id)
            try moveStoresKey(from: startCheck, to: keyring, restoring: text, path: path)
            try keyring.write(replacing: path)
        } else if try isUnfinished(before, storeCheck: startCheck) {
            addedKey = false
            try moveStoresKey(from: startCheck, to: keyring, restoring: nil, path: path)
        } else {
            // The new key goes into the file first as one that only opens (a process that reads
            // the file now does not seal with it yet), then to the store, then the file makes it
            // current: killed between any two steps, every key any token is sealed under is on disk.
            addedKey = true
            keyring = before.rotated(at: clock.now)
            try keyring.making(current: before.currentID).write(replacing: path)
            try moveStoresKey(from: startCheck, to: keyring, restoring: text, path: path)
            try keyring.write(replacing: path)
        }
        let rotated = TokenSealer(keyring: keyring)
        try store.bind(to: rotated)
        // Tokens, not writes: a token re-sealed, refreshed under the old key by a commit that
        // began before the store's key moved, and re-sealed again counts once.
        var resealed = Set<String>()
        // A page another writer changed meanwhile is left to the next sweep; three sweeps end it.
        for _ in 0..<3 {
            let missed = try sweep(rotated, into: &resealed) { progress($0) }
            if missed == 0 { break }
        }
        let remaining = try tokens(notUnder: keyring.current)
        let previous = keyring.entries.map(\.id).filter { $0 != keyring.currentID }
        _ = try store.write { store in
            try audit.append(
                store,
                event: .keyRotated,
                tokenID: nil,
                detail: AuditDetail(
                    note: "previous keys: " + (previous.isEmpty ? "none" : previous.joined(separator: ", "))
                        + (remaining > 0 ? "; \(remaining) tokens still under older keys" : ""),
                    keyID: keyring.currentID,
                    tokens: resealed.count
                ),
                at: clock.now
            )
        }
        return Summary(keyID: keyring.currentID, addedKey: addedKey, resealed: resealed.count, remaining: remaining)
    }

    /// Re-seals every token not under `rotated`'s current key, a page a transaction, adding the
    /// ids to `resealed`; how many changed under it (a refresh wrote a new value meanwhile).
    /// Each page locks the audit chain's head first, as a refresh's commit does, so the two take
    /// their locks in one order (on PostgreSQL they deadlocked).
    private func sweep(_ rotated: TokenSealer, into resealed: inout Set<String>, progress: (Int) -> Void) throws -> Int
    {
        let current = rotated.keyring.currentID
        var after: String?
        var missed = 0
        while true {
            let page = try store.write { store -> Int in
                _ = try store.auditTail()
                let rows = try store.sealedTokenPage(after: after, limit: Self.pageSize)
                for (id, sealed) in rows where TokenSealer.keyID(ofSealed: sealed) != current {
                    let fresh = try rotated.seal(try rotated.open(sealed, id: id), id: id)
                    if try store.replaceSealedToken(id: id, from: sealed, to: fresh) {
                        resealed.insert(id)
                    } else {
                        missed += 1
                    }
                }
                after = rows.last?.id ?? after
                return rows.count
            }
            progress(resealed.count)
            if page < Self.pageSize { return missed }
        }
    }

    /// Moves the store's key check from `old` to `keyring`'s current key, atomically: a rotation
    /// elsewhere meanwhile stops this one here, before anything is sealed under a key the other
    /// side does not have, and the keyring file goes back to `restoring` (its text before).
    private func moveStoresKey(from old: String, to keyring: Keyring, restoring text: String?, path: String) throws {
        let new = keyring.current.check
        guard try old == new || store.write({ try $0.replaceKeyCheck(old, with: new) }) else {
            if let text { try Keyring.replace(path, with: text) }
            throw TokenKeeperError(
                .wrongKey,
                "the store's key changed while rotating (another `key rotate`, on another host?); no token was re-sealed "
                    + "and \(path) is as it was"
            )
        }
    }

    /// The keyring file, locked for this process (close the descriptor to let go) and read again
    /// under the lock, with the file's text; `doing` says why a key from elsewhere than a file
    /// will not do.
    private func lockedKeyring(doing: String) throws -> (String, Int32, Keyring, String) {
        let source = sealer.keyring.source
        guard case .file(let path) = source else {
            let how =
                if case .environment = source {
                    "which holds one key: put it in a key file (TOKENKEEPER_MASTER_KEY_FILE, 0600) and unset the variable"
                } else {
                    "a read-only copy systemd made: run this with TOKENKEEPER_MASTER_KEY_FILE naming the file the unit's "
                        + "LoadCredential= reads, then restart the service"
                }
            throw TokenKeeperError(.configuration, "\(doing), but the key comes from \(source), \(how)")
        }
        let lock = try Keyring.lock(path)
        do {
            let text = try Keyring.readKeyFile(path, checkingMode: true)
            return (path, lock, try Keyring(fileText: text, source: source), text)
        } catch {
            close(lock)
            throw error
        }
    }

    /// Whether a rotation to `keyring`'s current key was stopped before it ended: the store's key is
    /// not that key yet, tokens are still under older keys, or no `key_rotated` names it.
    private func isUnfinished(_ keyring: Keyring, storeCheck: String) throws -> Bool {
        // A keyring of one key has no rotation to finish (its tokens may predate key ids).
        guard keyring.entries.count > 1 else { return false }
        if storeCheck != keyring.current.check { return true }
        if try tokens(notUnder: keyring.current) > 0 { return true }
        // The newest `key_rotated` names the key a finished rotation made current.
        var audited = false
        try store.read { store in
            try store.forEachAuditRecord(AuditLog.Query(event: .keyRotated, limit: 1)) { record in
                audited = record.detail.contains("\"key_id\":\"\(keyring.currentID)\"")
            }
        }
        return !audited
    }

    /// How many tokens are not sealed under `entry`.
    private func tokens(notUnder entry: Keyring.Entry) throws -> Int {
        try store.read { store in
            try store.countTokenRows() - store.countSealedTokens(startingWith: [entry.header])[0]
        }
    }

    /// Removes key `id` from the keyring file: never the current key, nor one that still seals a
    /// token (65 with the count).
    package func retire(id: String) throws {
        let (path, lock, keyring, _) = try lockedKeyring(doing: "retiring a key rewrites the keyring file")
        defer { close(lock) }
        guard let entry = keyring.entry(id: id) else {
            throw TokenKeeperError(.notFound, "no key \(id) in \(keyring.source) (see `tokenkeeper key list`)")
        }
        guard id != keyring.currentID else {
            throw TokenKeeperError(
                .invalidInput,
                "key \(id) is the current key; rotate first (`tokenkeeper key rotate`)"
            )
        }
        // The event is sealed under a key that stays (the store's key is never the one retired).
        let remaining = keyring.removing(id: id)
        if try store.read({ try $0.keyCheck() }) != entry.check { try store.bind(to: TokenSealer(keyring: remaining)) }
        try store.write { store in
            let tokens = try list(in: store, keyring).first { $0.id == id }?.tokens ?? 0
            guard tokens == 0 else {
                throw TokenKeeperError(
                    .invalidInput,
                    "key \(id) still seals \(counted(tokens, "token")); run `tokenkeeper key rotate` to re-seal them first"
                )
            }
            guard try store.keyCheck() != entry.check else {
                throw TokenKeeperError(
                    .invalidInput,
                    "key \(id) is still the store's key (a rotation was stopped); run `tokenkeeper key rotate` to finish it first"
                )
            }
            try audit.append(
                store,
                event: .keyRetired,
                tokenID: nil,
                detail: AuditDetail(keyID: id),
                at: clock.now
            )
            // Inside the transaction: were the file not rewritten, the event is not committed.
            try remaining.write(replacing: path)
        }
    }
}
