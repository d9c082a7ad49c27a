import Crypto
import Foundation

/// The master keys of a store: one current key that seals, older ones that still open, and the
/// fingerprint key (<doc:Operations#Rotating-the-master-key>).
///
/// A key file written before rotation existed holds one line of base64: it reads as a keyring of
/// that one key, current, and the fingerprint key derived from it. `key rotate` writes the
/// keyring form:
///
/// ```
/// # tokenkeeper keyring: one key a line; `current` seals, the others only open
/// fingerprint-key BASE64
/// key ID CREATED current BASE64
/// key ID CREATED previous BASE64
/// ```
///
/// The fingerprint key outlives rotations: fingerprints find a token stored twice and name tokens
/// in the audit across the store's whole life, and it cannot open a token.
// SymmetricKey is immutable but not marked Sendable in swift-crypto 3.
package struct Keyring: @unchecked Sendable {
    /// One master key and what is derived from it.
    package struct Entry: @unchecked Sendable {
        /// 16 hex digits derived from the key: what a sealed token and `key list` name it by.
        package let id: String
        /// The id's 8 bytes.
        let idBytes: [UInt8]
        /// The 9 bytes a value sealed under this key starts with: version byte and id.
        let header: Data
        /// When `key rotate` made it; nil for a key from before keyrings.
        package let createdAt: UnixTime?
        let key: SymmetricKey
        /// The value stored in the database to recognise the key, before and after its audit
        /// chain was sealed (the sealed form cannot be turned back without the key).
        let legacyCheck: String
        let check: String
        /// The key the audit seal's HMAC is under (``AuditSeal``).
        let sealKey: SymmetricKey

        init(key: SymmetricKey, createdAt: UnixTime?) {
            self.key = key
            self.createdAt = createdAt
            let checkKey = HKDF<SHA256>.deriveKey(
                inputKeyMaterial: key,
                info: Data("tokenkeeper key check v1".utf8),
                outputByteCount: 32
            )
            legacyCheck = HMAC<SHA256>.authenticationCode(for: Data("tokenkeeper".utf8), using: checkKey).hex
            check = HMAC<SHA256>.authenticationCode(for: Data("tokenkeeper sealed audit v2".utf8), using: checkKey).hex
            let idCode = HMAC<SHA256>.authenticationCode(for: Data("tokenkeeper key id".utf8), using: checkKey)
            idBytes = Array(idCode.withUnsafeBytes { Array($0) }.prefix(8))
            id = idBytes.hex
            header = Data([TokenSealer.formatVersion] + idBytes)
            sealKey = HKDF<SHA256>.deriveKey(
                inputKeyMaterial: key,
                info: Data("tokenkeeper audit seal v1".utf8),
                outputByteCount: 32
            )
        }

        /// The key as base64 text, for the key file.
        var base64: String { key.base64 }
    }

    /// Every key, the current one among them.
    package private(set) var entries: [Entry]
    /// The id of the key that seals.
    package private(set) var currentID: String
    let fingerprintKey: SymmetricKey
    /// Where the keys came from, named in errors (never a key).
    package let source: MasterKey.Source

    /// The key that seals.
    package var current: Entry { entries.first { $0.id == currentID }! }

    /// The keyring of one key, as a key file from before keyrings or `TOKENKEEPER_MASTER_KEY`.
    package init(single key: MasterKey) {
        let entry = Entry(key: key.key, createdAt: nil)
        entries = [entry]
        currentID = entry.id
        fingerprintKey = Self.derivedFingerprintKey(key.key)
        source = key.source
    }

    private init(entries: [Entry], currentID: String, fingerprintKey: SymmetricKey, source: MasterKey.Source) {
        self.entries = entries
        self.currentID = currentID
        self.fingerprintKey = fingerprintKey
        self.source = source
    }

    /// The fingerprint key of a store whose first key is `key`.
    private static func derivedFingerprintKey(_ key: SymmetricKey) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: key,
            info: Data("tokenkeeper fingerprint v1".utf8),
            outputByteCount: 32
        )
    }

    package func entry(id: String) -> Entry? { entries.first { $0.id == id } }

    /// This keyring with a fresh key added and made current (the others stay, to open).
    package func rotated(at now: UnixTime) -> Keyring {
        let fresh = Entry(key: SymmetricKey(size: .bits256), createdAt: now)
        return Keyring(entries: entries + [fresh], currentID: fresh.id, fingerprintKey: fingerprintKey, source: source)
    }

    /// This keyring with key `id` (one of its own) current.
    package func making(current id: String) -> Keyring {
        precondition(entry(id: id) != nil, "only a key of the ring becomes current")
        return Keyring(entries: entries, currentID: id, fingerprintKey: fingerprintKey, source: source)
    }

    /// This keyring without the key `id` (not the current one).
    package func removing(id: String) -> Keyring {
        precondition(id != currentID, "the current key is never removed")
        return Keyring(
            entries: entries.filter { $0.id != id },
            currentID: currentID,
            fingerprintKey: fingerprintKey,
            source: source
        )
    }

    // MARK: - The file

    /// The keyring file's text (the old one-line form is never written again once rotated).
    var fileText: String {
        var lines = ["# tokenkeeper keyring: one key a line; `current` seals, the others only open"]
        lines.append("fingerprint-key " + fingerprintKey.base64)
        for entry in entries {
            let created = entry.createdAt.map { RFC3339.format($0) } ?? "-"
            let role = entry.id == currentID ? "current" : "previous"
            lines.append("key \(entry.id) \(created) \(role) \(entry.base64)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Reads a key file's text: one line of base64 (a single key), or the keyring form.
    package init(fileText text: String, source: MasterKey.Source) throws {
        // (number on the file, text) of each line that is not blank or a comment.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            .map { ($0.offset + 1, $0.element.trimmingCharacters(in: .whitespacesAndNewlines)) }
            .filter { !$0.1.isEmpty && !$0.1.hasPrefix("#") }
        if lines.count == 1, !lines[0].1.contains(" ") {
            self.init(single: try MasterKey(base64: lines[0].1, source: source))
            return
        }
        func invalid(_ why: String) -> TokenKeeperError {
            TokenKeeperError(.configuration, "\(source) is not a keyring: \(why)")
        }
        var entries: [Entry] = []
        var currentID: String?
        var fingerprintKey: SymmetricKey?
        for (number, line) in lines {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            switch fields.first {
            case "fingerprint-key" where fields.count == 2 && fingerprintKey == nil:
                guard let bytes = Data(base64Encoded: fields[1]), bytes.count == 32 else {
                    throw invalid("its fingerprint key is not base64 of 32 bytes")
                }
                fingerprintKey = SymmetricKey(data: bytes)
            case "key" where fields.count == 5:
                let key = try MasterKey(base64: fields[4], source: source).key
                var created: UnixTime?
                if fields[2] != "-" {
                    guard let time = RFC3339.parse(fields[2]) else {
                        throw invalid("the key on line \(number) has no valid time")
                    }
                    created = time
                }
                let entry = Entry(key: key, createdAt: created)
                // The id is derived: one that does not match names another key (or a damaged line).
                guard entry.id == fields[1] else {
                    // Only an id is named back: a misplaced field could be a key.
                    let named = fields[1].count == 16 && fields[1].allSatisfy(\.isHexDigit) ? " \(fields[1])" : ""
                    throw invalid("the key on line \(number) is not the key\(named) its line names")
                }
                guard !entries.contains(where: { $0.id == entry.id }) else {
                    throw invalid("key \(entry.id) is there twice")
                }
                switch fields[3] {
                case "current":
                    guard currentID == nil else { throw invalid("more than one key is current") }
                    currentID = entry.id
                case "previous": break
                default: throw invalid("key \(entry.id) is neither `current` nor `previous`")
                }
                entries.append(entry)
            default:
                throw invalid("line \(number) is neither `fingerprint-key BASE64` nor `key ID CREATED ROLE BASE64`")
            }
        }
        guard let fingerprintKey else { throw invalid("it has no fingerprint-key line") }
        guard let currentID else { throw invalid("no key is current") }
        self.init(entries: entries, currentID: currentID, fingerprintKey: fingerprintKey, source: source)
    }

    /// Replaces the keyring file at `path` with this keyring: written to a new 0600 file beside it,
    /// synced, then renamed over it, so a crash leaves the old file or the new one, never half.
    package func write(replacing path: String) throws {
        try Self.replace(path, with: fileText)
    }

    /// Replaces the key file at `path` with `text`, as ``write(replacing:)`` does. A key file that
    /// is a symlink (into a secrets mount, or to the copy that is backed up) is written through:
    /// the new file is made beside the link's target and renamed over it, so the link stays and
    /// its target holds the new keys.
    static func replace(_ path: String, with text: String) throws {
        let target = resolvedLinks(path)
        // Errors name the link and its target: the operator looks at the link.
        let named = target == path ? path : "\(path) (a link to \(target))"
        let temporary = target + ".new.\(getpid())"
        unlink(temporary)
        do {
            try FileSystem.writeNewPrivateFile(temporary, contents: Array(text.utf8))
        } catch let error as TokenKeeperError {
            throw TokenKeeperError(error.code, "cannot replace key file \(named): \(error.message)")
        }
        // Root rotating the service user's keyring leaves it the service user's.
        var old = stat()
        if geteuid() == 0, stat(target, &old) == 0, chown(temporary, old.st_uid, old.st_gid) != 0 {
            unlink(temporary)
            throw TokenKeeperError(.configuration, "cannot give the new key file the owner of \(named)")
        }
        guard rename(temporary, target) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw TokenKeeperError(.configuration, "cannot replace key file \(named): \(reason)")
        }
        FileSystem.syncParentDirectory(of: target)
    }

    /// `path` with every symlink in it resolved (the file a rename must replace), or `path`
    /// itself when it cannot be resolved.
    static func resolvedLinks(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

extension Keyring {
    /// Takes an exclusive lock on `path.lock` (0600, beside the key file) for one `key rotate` or
    /// `key retire` at a time; the descriptor to close to let go. Another holder is an error at once.
    static func lock(_ path: String) throws -> Int32 {
        let descriptor = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            let reason = String(cString: strerror(errno))
            throw TokenKeeperError(.configuration, "cannot create the lock file \(path).lock: \(reason)")
        }
        // Made by root for the service user's keyring, it stays the keyring owner's.
        var owner = stat()
        if geteuid() == 0, stat(path, &owner) == 0 { _ = fchown(descriptor, owner.st_uid, owner.st_gid) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw TokenKeeperError(
                .databaseLocked,
                "another `key rotate` or `key retire` is running on \(path); try again when it has finished"
            )
        }
        return descriptor
    }

    /// The most a key file may hold: a keyring of a few hundred keys (a wrong path could name a
    /// huge file, which is not read whole).
    static let maximumFileSize = 64 * 1_024

    /// Loads the keys: `TOKENKEEPER_MASTER_KEY` when set, else the key file, which must be its
    /// owner's alone.
    package static func load(from configuration: TokenKeeperConfiguration) throws -> Keyring {
        if let text = configuration.masterKey {
            return Keyring(single: try MasterKey(base64: text, source: .environment))
        }
        let path = configuration.masterKeyFile
        let credential = configuration.masterKeyFileIsCredential
        return try Keyring(
            fileText: try readKeyFile(path, checkingMode: !credential),
            source: credential ? .credential(path) : .file(path)
        )
    }

    /// The key file's text, its mode and owner checked (`checkingMode`) on the descriptor it is
    /// read from. systemd gives a credential to the service's user by an ACL or by ownership,
    /// so its mode is not held to the key file's rule.
    static func readKeyFile(_ path: String, checkingMode: Bool) throws -> String {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw TokenKeeperError(
                .configuration,
                "no master key: \(path) does not exist and TOKENKEEPER_MASTER_KEY is not set (run `tokenkeeper init` to create one)"
            )
        }
        guard info.st_mode & S_IFMT == S_IFREG else { throw notARegularFile(path) }
        // Without O_NONBLOCK, opening a FIFO waits for a writer that may never come; a path
        // swapped for one after the stat is caught on the descriptor.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            // Root opens anything: a file mode that forbids the read still gets the mode's message.
            if checkingMode { try FileModes.check(path, .key) }
            throw TokenKeeperError(.configuration, "cannot read key file \(path) (check its owner and permissions)")
        }
        defer { close(descriptor) }
        var opened = stat()
        guard fstat(descriptor, &opened) == 0, opened.st_mode & S_IFMT == S_IFREG else { throw notARegularFile(path) }
        if checkingMode { try FileModes.check(descriptor: descriptor, path, .key) }
        guard case .success(let read) = FileSystem.readAll(descriptor, limit: maximumFileSize) else {
            throw TokenKeeperError(.configuration, "cannot read key file \(path) (check its owner and permissions)")
        }
        guard let bytes = read else {
            throw TokenKeeperError(
                .configuration,
                "\(path) is not a master key file: it is larger than \(maximumFileSize) bytes"
            )
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw TokenKeeperError(.configuration, "\(path) is not a master key file: it is not text")
        }
        return text
    }

    private static func notARegularFile(_ path: String) -> TokenKeeperError {
        TokenKeeperError(
            .configuration,
            "\(path) is not a master key file: it is not a regular file (a FIFO, a device or a folder)"
        )
    }
}
