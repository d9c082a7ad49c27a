import Crypto
import Foundation

/// The 32-byte key that seals every token at rest.
// SymmetricKey is immutable but not marked Sendable in swift-crypto 3.
package struct MasterKey: @unchecked Sendable {
    /// Where the key came from, named in errors (never the key itself).
    package enum Source: Sendable, CustomStringConvertible {
        case environment
        case file(String)
        /// The systemd credential (`$CREDENTIALS_DIRECTORY/tokenkeeper.key`).
        case credential(String)
        case generated

        package var description: String {
            switch self {
            case .environment: "TOKENKEEPER_MASTER_KEY"
            case .file(let path): "key file \(path)"
            case .credential(let path): "systemd credential \(path)"
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

    /// The key as base64 text, for the key file.
    var base64: String { key.base64 }

    /// Writes the key to a new file created 0600; never overwrites an existing file.
    package func write(toNewFile path: String) throws {
        try FileSystem.writeNewPrivateFile(path, contents: Array((base64 + "\n").utf8))
    }
}

extension SymmetricKey {
    /// The key's bytes as base64 text, as key files hold them.
    var base64: String { withUnsafeBytes { Data($0).base64EncodedString() } }
}
