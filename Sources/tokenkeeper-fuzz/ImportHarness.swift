import Foundation
import TokenKeeper

/// `import`: the input is a JSON Lines file, split as `LineReader` splits it (`\n`, a trailing
/// `\r` dropped, blank lines passed over), each line going through the checks of
/// `Inventory.prepareLine`.
///
/// The reader itself is left out: it fills a 1 MiB buffer per read, which under the sanitizers
/// costs twenty times the rest of an input. Its splitting is unit-tested across chunk boundaries.
///
/// Promises: an accepted line gives no field twice (checked against ``JSONKeys``), and has a
/// project, details and a token within the limits `add` applies (no NUL, no invisible format
/// character where `add` refuses them), and an `expires_at` that formats
/// back to itself; a line refused for a repeated field repeats it; a refusal never quotes the
/// line's token.
enum ImportHarness {
    /// Every sentence a refusal is made of, less the names it quotes.
    static let vocabulary = ImportLineCheck.vocabulary

    /// Checks each line of the input on its own, as the importer's workers do.
    static func run(_ input: [UInt8]) {
        let decoder = JSONDecoder()
        var start = 0
        while start < input.count {
            let newline = input[start...].firstIndex(of: UInt8(ascii: "\n")) ?? input.count
            var end = newline
            if end > start, input[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            let line = input[start..<end]
            start = newline + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            check(line, decoder: decoder)
        }
    }

    /// Checks one line, and what the importer would keep of it or say about it.
    static func check(_ line: ArraySlice<UInt8>, decoder: JSONDecoder) {
        let outcome = ImportLineCheck.check(line, decoder: decoder)
        if let keys = JSONKeys.of(line) {
            let repeated = keys.filter { key in keys.filter { $0 == key }.count > 1 }
            switch outcome {
            case .success: require(repeated.isEmpty, "accepted a line that repeats \(repeated)")
            case .failure(let error):
                if let name = repeatedField(in: error.message) {
                    require(repeated.contains(name), "refused \(name) as repeated; the line's keys are \(keys)")
                }
            }
        }
        switch outcome {
        case .success(let accepted):
            require(!accepted.project.isEmpty, "accepted a line without a project")
            require(accepted.project.utf8.count <= 128, "accepted a project of \(accepted.project.utf8.count) bytes")
            require((accepted.label?.utf8.count ?? 0) <= 256, "accepted a label longer than 256 bytes")
            require((accepted.waba?.utf8.count ?? 0) <= 64, "accepted a WABA id longer than 64 bytes")
            let token = accepted.token.utf8
            require(!token.isEmpty && token.count <= 4_096, "accepted a token of \(token.count) bytes")
            require(!token.contains { $0 <= 0x20 || $0 == 0x7f }, "accepted a token with whitespace or a control byte")
            require(accepted.token.unicodeScalars.count >= 8, "accepted a token shorter than 8 characters")
            let invisible = { (text: String) in
                text.unicodeScalars.contains { $0.properties.generalCategory == .format }
            }
            require(
                !invisible(accepted.token) && !invisible(accepted.project),
                "accepted an invisible format character"
            )
            require(!(accepted.label ?? "").unicodeScalars.contains("\0"), "accepted a label with a NUL")
            if let expiresAt = accepted.expiresAt {
                TimeHarness.checkRoundTrip(expiresAt)
            }
        case .failure(let error):
            require(error.code == .invalidInput, "refused a line with \(error.code), not invalidInput")
            require(!error.message.isEmpty, "refused a line without saying why")
            guard let token = (try? decoder.decode(TokenField.self, from: Data(line)))?.token,
                token.utf8.count > 8, !vocabulary.contains(token)
            else { return }
            require(!quotedValues(of: error.message).contains(token), "the refusal quotes the token: \(error.message)")
        }
    }

    /// The field a refusal says the line gives twice.
    static func repeatedField(in message: String) -> String? {
        guard message.hasPrefix("field \""), message.hasSuffix("\" is given twice") else { return nil }
        return String(message.dropFirst("field \"".count).dropLast("\" is given twice".count))
    }

    /// The refusal without the one name it may quote from the line, an unknown field's: a field
    /// name is not a value, even when a line repeats its token as a key.
    static func quotedValues(of message: String) -> String {
        guard message.hasPrefix("unknown field \""), let end = message.range(of: "\" (expected ", options: .backwards)
        else { return message }
        return String(message[end.lowerBound...])
    }

    /// The line's `token` string, if it has one, however the rest of the line fails.
    struct TokenField: Decodable {
        var token: String?

        enum CodingKeys: String, CodingKey {
            case token
        }

        init(from decoder: any Decoder) throws {
            token = try? decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(String.self, forKey: .token)
        }
    }
}
