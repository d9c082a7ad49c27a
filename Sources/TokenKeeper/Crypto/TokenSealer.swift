import Crypto
import Foundation
import Synchronization

/// Seals tokens at rest and fingerprints them, under the keys of a ``Keyring``.
///
/// Sealing is AES-256-GCM under the current key, with the token's id as associated data, so a
/// sealed value moved to another row does not open. A sealed value starts with a version byte
/// (1) and the id of the key that sealed it; a value without them was sealed before keyrings and
/// opens with whichever key of the ring made it. Fingerprints are HMAC-SHA256 under the
/// keyring's fingerprint key, so they identify a token in the audit without revealing anything
/// about it.
///
/// When a value names a key this process does not have, the keyring is read again from its file
/// (another process ran `key rotate`), at most once a second.
package final class TokenSealer: @unchecked Sendable {
    private struct Keys {
        var keyring: Keyring
        var lastReload: ContinuousClock.Instant
        /// The key file as it was when `keyring` was read, and when that was last looked at.
        var stamp: FileStamp?
        var lastLook: ContinuousClock.Instant
    }

    private let keys: Mutex<Keys>
    private let reload: (@Sendable () throws -> Keyring)?
    /// The key file `reload` reads, looked at (at most once a second) before sealing: a key file
    /// replaced by `key rotate` on this host, or copied from another, is read again.
    private let file: String?
    /// HMAC keyed once; each fingerprint updates a copy (the digest state is copy-on-write).
    private let fingerprintMAC: HMAC<SHA256>

    /// Seals under `keyring`; `reload` reads it again when a sealed value names a key it lacks.
    package init(keyring: Keyring, file: String? = nil, reload: (@Sendable () throws -> Keyring)? = nil) {
        let past = ContinuousClock.now - .seconds(2)
        keys = Mutex(Keys(keyring: keyring, lastReload: past, stamp: file.flatMap(FileStamp.init), lastLook: past))
        self.reload = reload
        self.file = file
        fingerprintMAC = HMAC<SHA256>(key: keyring.fingerprintKey)
    }

    /// A sealer of one key (`TOKENKEEPER_MASTER_KEY`, tests).
    package convenience init(masterKey: MasterKey) {
        self.init(keyring: Keyring(single: masterKey))
    }

    /// The keys as they are now (after any reload).
    package var keyring: Keyring { keys.withLock { $0.keyring } }

    /// The current key's value in the database (the store's key check).
    package var keyCheck: String { keyring.current.check }

    /// The first byte of a value sealed with its key's id.
    static let formatVersion: UInt8 = 1
    /// Version byte and key id.
    static let headerSize = 9

    /// Seals a token for the row `id` under the current key: header, nonce, ciphertext and tag.
    package func seal(_ token: String, id: String) throws -> Data {
        followFile()
        return try seal(token, id: id, under: keyring.current)
    }

    /// The key whose check is `check` (the store's key check, which `key rotate` moves before the
    /// keyring file makes the new key current), reading the file again when the keyring lacks
    /// it; nil when no key of the file has that check.
    package func key(withCheck check: String) -> Keyring.Entry? {
        keyring.entries.first { $0.check == check } ?? (try? reload?())?.entries.first { $0.check == check }
    }

    /// The sealed value `sealed` of row `id` sealed again under `entry`; nil when it is under that
    /// key already.
    package func resealed(_ sealed: Data, id: String, under entry: Keyring.Entry) throws -> Data? {
        guard Self.keyID(ofSealed: sealed) != entry.id else { return nil }
        return try seal(open(sealed, id: id), id: id, under: entry)
    }

    private func seal(_ token: String, id: String, under current: Keyring.Entry) throws -> Data {
        do {
            let box = try AES.GCM.seal(Data(token.utf8), using: current.key, authenticating: Data(id.utf8))
            guard let combined = box.combined else {
                throw TokenKeeperError(.database, "sealing produced no output")
            }
            return current.header + combined
        } catch let error as TokenKeeperError {
            throw error
        } catch {
            throw TokenKeeperError(.database, "cannot seal the token of \(id)")
        }
    }

    /// Opens the sealed token of row `id`.
    ///
    /// swift-crypto on Linux reports a failed open as a BoringSSL error rather than
    /// `.authenticationFailure`, so every failure is reported the same way.
    package func open(_ sealed: Data, id: String) throws -> String {
        let ring = keyring
        if let (token, _) = Self.opened(sealed, id: id, in: ring) { return token }
        if let named = Self.keyID(ofSealed: sealed), ring.entry(id: named) == nil {
            if reloadedEntry(id: named) != nil, let (token, _) = Self.opened(sealed, id: id, in: keyring) {
                return token
            }
            throw TokenKeeperError(
                .wrongKey,
                "the sealed token of \(id) is sealed under key \(named), which is not in \(ring.source) (copy the keyring from the host that ran `key rotate`)"
            )
        }
        throw TokenKeeperError(
            .wrongKey,
            "the sealed token of \(id) does not open with this master key (wrong key, or the row was altered)"
        )
    }

    /// The id of the key of `ring` that opens `sealed`, nil when none does.
    static func keyID(opening sealed: Data, id: String, in ring: Keyring) -> String? {
        opened(sealed, id: id, in: ring)?.keyID
    }

    /// `sealed` opened by the key its header names or, sealed before keyrings, by whichever key
    /// of `ring` made it (tried also for a value whose first bytes look like a header, as such a
    /// value can start); the token and the key that opened it.
    private static func opened(_ sealed: Data, id: String, in ring: Keyring) -> (token: String, keyID: String)? {
        if let named = keyID(ofSealed: sealed), let entry = ring.entry(id: named),
            let token = open(sealed.dropFirst(headerSize), id: id, with: entry)
        {
            return (token, named)
        }
        for entry in ring.entries {
            if let token = open(sealed, id: id, with: entry) { return (token, entry.id) }
        }
        return nil
    }

    private static func open(_ sealed: Data, id: String, with entry: Keyring.Entry) -> String? {
        guard let box = try? AES.GCM.SealedBox(combined: sealed),
            let plain = try? AES.GCM.open(box, using: entry.key, authenticating: Data(id.utf8))
        else { return nil }
        return String(data: plain, encoding: .utf8)
    }

    /// The key `id`, reading the keyring again (at most once a second) when it is not there.
    func entry(id: String) -> Keyring.Entry? {
        keyring.entry(id: id) ?? reloadedEntry(id: id)
    }

    /// Reads the keyring again when its file changed since it was read (looked at once a second).
    private func followFile() {
        guard let file, reload != nil else { return }
        let stale = keys.withLock { keys -> Bool in
            guard keys.lastLook.duration(to: .now) >= .seconds(1) else { return false }
            keys.lastLook = .now
            return FileStamp(file) != keys.stamp
        }
        guard stale, let fresh = try? reload?() else { return }
        keys.withLock {
            $0.keyring = fresh
            $0.stamp = FileStamp(file)
        }
    }

    /// Reads the keyring again (at most once a second) when `storeCheck`, the store's key
    /// check, is not the current key's: another process rotated the key.
    package func follow(storeCheck: String) {
        guard storeCheck != keyring.current.check, let fresh = reloadedKeyring(),
            fresh.current.check == storeCheck
        else { return }
        keys.withLock { $0.keyring = fresh }
    }

    private func reloadedEntry(id: String) -> Keyring.Entry? {
        guard let fresh = reloadedKeyring(), fresh.entry(id: id) != nil else { return nil }
        keys.withLock { $0.keyring = fresh }
        return fresh.entry(id: id)
    }

    /// The keyring read again from its file, at most once a second; nil when not due or unreadable.
    private func reloadedKeyring() -> Keyring? {
        guard let reload else { return nil }
        let due = keys.withLock { keys in
            guard keys.lastReload.duration(to: .now) >= .seconds(1) else { return false }
            keys.lastReload = .now
            return true
        }
        return due ? try? reload() : nil
    }

    /// The id of the key a sealed value names, nil for a value sealed before keyrings.
    package static func keyID(ofSealed sealed: Data) -> String? {
        guard sealed.count > headerSize + 28, sealed[sealed.startIndex] == formatVersion else { return nil }
        return Array(sealed.dropFirst().prefix(8)).hex
    }

    /// The first 16 hex digits of HMAC-SHA256(token) under the fingerprint key.
    package func fingerprint(_ token: String) -> String {
        var mac = fingerprintMAC
        mac.update(data: Data(token.utf8))
        return String(mac.finalize().hex.prefix(16))
    }
}

/// What tells a file replaced or rewritten: its inode, size and modification time.
struct FileStamp: Equatable {
    let inode: UInt64
    let size: Int64
    let modified: timespec

    init?(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        modified = info.st_mtim
    }

    static func == (a: FileStamp, b: FileStamp) -> Bool {
        a.inode == b.inode && a.size == b.size && a.modified.tv_sec == b.modified.tv_sec
            && a.modified.tv_nsec == b.modified.tv_nsec
    }
}

extension Sequence where Element == UInt8 {
    /// Lowercase hexadecimal.
    var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension HashedAuthenticationCode {
    var hex: String { withUnsafeBytes { Array($0).hex } }
}

extension Digest {
    var hex: String { withUnsafeBytes { Array($0).hex } }
}
