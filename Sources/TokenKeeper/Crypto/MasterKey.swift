import Crypto
import Foundation

/// The 32-byte key that seals every token at rest.
// SymmetricKey is immutable but not marked Sendable in swift-crypto 3.
package struct MasterKey: @unchecked Sendable {
    /// Where the key came from, named in errors (never the key itself).
    package enum Source: Sendable, CustomStringConvertible {
        case environment
        case file(String)
        case generated

        package var description: String {
            switch self {
            case .environment: "TOKENKEEPER_MASTER_KEY"
            case .file(let path): "key file \(path)"
            case .generated: "a new key"
            }
        }
    }

    let key: SymmetricKey
    package let source: Source

    init(key: SymmetricKey, source: Source) {
        self.key = key
        self.source = source
    }

    /// A fresh random key.
    package static func generate() -> MasterKey {
        MasterKey(key: SymmetricKey(size: .bits256), source: .generated)
    }

    /// Decodes the base64 text of 32 bytes.
    package init(base64 text: String, source: Source) throws {
        guard let bytes = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)),
            bytes.count == 32
        else {
            throw TokenKeeperError(.configuration, "the master key in \(source) is not base64 of 32 bytes")
        }
        self.init(key: SymmetricKey(data: bytes), source: source)
    }

    /// The most a key file may hold: its base64 line with room for stray whitespace.
    static let maximumFileSize = 1_024

    /// The key as base64 text, for the key file.
    var base64: String { key.withUnsafeBytes { Data($0).base64EncodedString() } }

    /// Loads the key: `TOKENKEEPER_MASTER_KEY` when set, else the key file, which must be
    /// readable by its owner alone.
    package static func load(from configuration: TokenKeeperConfiguration) throws -> MasterKey {
        if let text = configuration.masterKey {
            return try MasterKey(base64: text, source: .environment)
        }
        let path = configuration.masterKeyFile
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw TokenKeeperError(
                .configuration,
                "no master key: \(path) does not exist and TOKENKEEPER_MASTER_KEY is not set (run `tokenkeeper init` to create one)"
            )
        }
        // A key file holds 44 characters of base64 and a newline: read no more than a little over
        // that, whatever the file's size (a wrong path could name a huge file).
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            // Root opens anything: a file mode that forbids the read still gets the mode's message.
            try FileModes.check(path, .key)
            throw TokenKeeperError(.configuration, "cannot read key file \(path) (check its owner and permissions)")
        }
        defer { close(descriptor) }
        try FileModes.check(descriptor: descriptor, path, .key)
        guard case .success(let read) = FileSystem.readAll(descriptor, limit: Self.maximumFileSize) else {
            throw TokenKeeperError(.configuration, "cannot read key file \(path) (check its owner and permissions)")
        }
        guard let bytes = read else {
            throw TokenKeeperError(
                .configuration,
                "\(path) is not a master key file: it is larger than \(Self.maximumFileSize) bytes (a key file holds one line of base64)"
            )
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw TokenKeeperError(.configuration, "\(path) is not a master key file: it is not text")
        }
        return try MasterKey(base64: text, source: .file(path))
    }

    /// Writes the key to a new file created 0600; never overwrites an existing file.
    package func write(toNewFile path: String) throws {
        try FileSystem.createParentDirectory(of: path)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            let reason = String(cString: strerror(errno))
            throw TokenKeeperError(.configuration, "cannot create key file \(path): \(reason)")
        }
        defer { close(descriptor) }
        let text = Array((base64 + "\n").utf8)
        let written = text.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
        guard written == text.count, fsync(descriptor) == 0 else {
            unlink(path)
            throw TokenKeeperError(.configuration, "cannot write key file \(path)")
        }
    }
}
