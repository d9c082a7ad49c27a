import Foundation

/// A token Sinch returned that could not be stored (the database stayed busy, the disk filled):
/// sealed under the master key in a 0600 file beside the database, until
/// `tokenkeeper add --recover FILE` stores it. The code that yielded it is spent, so this file is
/// the customer's only way to avoid a new Embedded Signup.
///
/// Every detail of the file is the sealed value's associated data (``associatedData``): a file
/// whose project, `replace` or any other field was edited does not open, and is refused before
/// anything is stored. Fields the format does not have are refused too.
package struct RecoveryFile: Codable, Sendable, Equatable {
    static let formatName = "tokenkeeper-recovery-v2"
    /// Written before the details were bound to the sealed value (its associated data is the id
    /// alone): still stored, since the token in it may be a customer's only one, once every
    /// detail passes the checks `add --code-stdin` makes.
    static let unboundFormatName = "tokenkeeper-recovery-v1"
    /// Bigger than any file this type writes; a larger one is not ours.
    static let maximumSize = 65_536

    var format = Self.formatName
    /// Names the file; with the details below, the associated data the token is sealed with.
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

    /// Whether the details are bound to the sealed value (a file of this version); false for a
    /// file from before, whose details are only as good as the checks they pass.
    var detailsAreBound: Bool { format == Self.formatName }

    /// What the token is sealed with besides the key: every field but `sealed`, each as its name
    /// and its length-prefixed value (`-` when absent), one a line, so no two files share it.
    /// A file from before the binding was sealed with its id alone.
    var associatedData: String {
        guard detailsAreBound else { return id }
        let fields: [(CodingKeys, String?)] = [
            (.format, format), (.id, id), (.project, project), (.label, label), (.waba, waba),
            (.businessManager, businessManager), (.replace, replace), (.obtainedAt, obtainedAt),
            (.fingerprint, fingerprint),
        ]
        return fields.map { key, value in
            key.stringValue + "=" + (value.map { "\($0.utf8.count):\($0)" } ?? "-")
        }.joined(separator: "\n")
    }

    init(
        id: String,
        project: String,
        label: String?,
        waba: String?,
        businessManager: String?,
        replace: String?,
        obtainedAt: String,
        fingerprint: String,
        sealed: String
    ) {
        self.id = id
        self.project = project
        self.label = label
        self.waba = waba
        self.businessManager = businessManager
        self.replace = replace
        self.obtainedAt = obtainedAt
        self.fingerprint = fingerprint
        self.sealed = sealed
    }

    /// A field the format does not have: the file was edited, or is not ours.
    struct UnknownFields: Error {
        var names: [String]
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    package init(from decoder: any Decoder) throws {
        let names = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue)
        let unknown = names.filter { CodingKeys(stringValue: $0) == nil }
        guard unknown.isEmpty else { throw UnknownFields(names: unknown.sorted()) }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        format = try container.decode(String.self, forKey: .format)
        id = try container.decode(String.self, forKey: .id)
        project = try container.decode(String.self, forKey: .project)
        label = try container.decodeIfPresent(String.self, forKey: .label)
        waba = try container.decodeIfPresent(String.self, forKey: .waba)
        businessManager = try container.decodeIfPresent(String.self, forKey: .businessManager)
        replace = try container.decodeIfPresent(String.self, forKey: .replace)
        obtainedAt = try container.decode(String.self, forKey: .obtainedAt)
        fingerprint = try container.decode(String.self, forKey: .fingerprint)
        sealed = try container.decode(String.self, forKey: .sealed)
    }

    /// Seals `token` into a new 0600 file in `folder`, its details bound to it; returns its path.
    static func write(
        token: String,
        _ new: NewToken,
        replacing: String?,
        sealer: TokenSealer,
        obtainedAt: UnixTime,
        folder: String
    ) throws -> String {
        var generator = SystemRandom()
        var file = RecoveryFile(
            id: "recovery_" + TokenID.generate(using: &generator).dropFirst(3),
            project: new.project,
            label: new.label,
            waba: new.waba,
            businessManager: new.businessManager,
            replace: replacing,
            obtainedAt: RFC3339.format(obtainedAt),
            fingerprint: sealer.fingerprint(token),
            sealed: ""
        )
        file.sealed = try sealer.seal(token, id: file.associatedData).base64EncodedString()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let bytes = Array(try encoder.encode(file)) + [UInt8(ascii: "\n")]
        let path = "\(folder)/tokenkeeper-\(file.id).json"
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
        let notOurs = TokenKeeperError(.invalidInput, "\(path) is not a tokenkeeper recovery file")
        guard case .success(let bytes?) = read else { throw notOurs }
        let file: RecoveryFile
        do {
            file = try JSONDecoder().decode(RecoveryFile.self, from: Data(bytes))
        } catch let unknown as UnknownFields {
            let names = unknown.names.prefix(5).map { "\"\(TerminalText.escape(String($0.prefix(40))))\"" }
            throw TokenKeeperError(
                .invalidInput,
                "\(path) has fields a recovery file does not have (\(names.joined(separator: ", "))): it was "
                    + "edited, so nothing was stored; tokenkeeper writes these files and never reads them edited"
            )
        } catch {
            throw notOurs
        }
        guard [formatName, unboundFormatName].contains(file.format) else { throw notOurs }
        return file
    }
}
