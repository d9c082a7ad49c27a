import Foundation

/// A token Sinch returned that could not be stored (the database stayed busy, the disk filled):
/// sealed under the master key in a 0600 file beside the database, until
/// `tokenkeeper add --recover FILE` stores it. The code that yielded it is spent, so this file is
/// the customer's only way to avoid a new Embedded Signup.
package struct RecoveryFile: Codable, Sendable, Equatable {
    static let formatName = "tokenkeeper-recovery-v1"
    /// Bigger than any file this type writes; a larger one is not ours.
    static let maximumSize = 65_536

    var format = Self.formatName
    /// The associated data the token is sealed with: ties the sealed bytes to this file.
    var id: String
    var project: String
    var label: String?
    var waba: String?
    var businessManager: String?
    /// The record `add --replace` named, when the exchange was to replace it.
    var replace: String?
    /// When Sinch returned the token (its issue time).
    var obtainedAt: String
    var fingerprint: String
    var sealed: String

    enum CodingKeys: String, CodingKey {
        case format, id, project, label, waba, replace, fingerprint, sealed
        case businessManager = "business_manager"
        case obtainedAt = "obtained_at"
    }

    /// Seals `token` into a new 0600 file in `folder`; returns its path.
    static func write(
        token: String,
        _ new: NewToken,
        replacing: String?,
        sealer: TokenSealer,
        obtainedAt: UnixTime,
        folder: String
    ) throws -> String {
        var generator = SystemRandomNumberGenerator()
        let id = "recovery_" + TokenID.generate(using: &generator).dropFirst(3)
        let file = RecoveryFile(
            id: id,
            project: new.project,
            label: new.label,
            waba: new.waba,
            businessManager: new.businessManager,
            replace: replacing,
            obtainedAt: RFC3339.format(obtainedAt),
            fingerprint: sealer.fingerprint(token),
            sealed: try sealer.seal(token, id: id).base64EncodedString()
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let bytes = Array(try encoder.encode(file)) + [UInt8(ascii: "\n")]
        let path = "\(folder)/tokenkeeper-\(id).json"
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            throw TokenKeeperError(.database, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        if case .failure(let error) = FileSystem.writeAll(bytes, to: descriptor) {
            unlink(path)
            throw TokenKeeperError(.database, "cannot write \(path): \(error)")
        }
        guard fsync(descriptor) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(path)
            throw TokenKeeperError(.database, "cannot write \(path): \(reason)")
        }
        return path
    }

    /// Reads a recovery file; the error names what is wrong with it, never its sealed bytes.
    static func read(_ path: String) throws -> RecoveryFile {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw TokenKeeperError(.invalidInput, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let read = FileSystem.readAll(descriptor, limit: maximumSize)
        if case .failure(let error) = read {
            throw TokenKeeperError(.invalidInput, "cannot read \(path): \(error)")
        }
        guard case .success(let bytes?) = read,
            let file = try? JSONDecoder().decode(RecoveryFile.self, from: Data(bytes)),
            file.format == formatName
        else {
            throw TokenKeeperError(.invalidInput, "\(path) is not a tokenkeeper recovery file")
        }
        return file
    }
}

extension Inventory {
    /// Stores the token kept in the recovery file at `path` (`add --recover`), as the exchange
    /// that yielded it would have: a new record audited `exchanged`, or into the record it was
    /// to replace, with `source` "recovery". The file is deleted once the token is stored.
    package func recover(from path: String) throws -> TokenRecord {
        let sealer = try requireSealer()
        let file = try RecoveryFile.read(path)
        guard let sealed = Data(base64Encoded: file.sealed), let token = try? sealer.open(sealed, id: file.id) else {
            throw TokenKeeperError(
                .wrongKey,
                "the token in \(path) does not open with this master key (it was sealed with the key of the database it came from)"
            )
        }
        guard let obtained = RFC3339.parse(file.obtainedAt) else {
            throw TokenKeeperError(.invalidInput, "\(path) is not a tokenkeeper recovery file")
        }
        let new = NewToken(
            project: file.project,
            label: file.label,
            waba: file.waba,
            businessManager: file.businessManager,
            issuedAt: min(obtained, clock.now)
        )
        let record =
            if let id = file.replace {
                try replace(id: id, token: token, new, source: "recovery")
            } else {
                try add(token: token, new, event: .exchanged, source: "recovery")
            }
        unlink(path)
        return record
    }
}
