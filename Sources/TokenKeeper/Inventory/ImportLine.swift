import Foundation

/// One JSON line of `tokenkeeper import`: `{"project","token","label"?,"waba"?,"expires_at"?}`.
///
/// Unknown fields are refused: a misspelt `expires_at` must not silently become a 60-day guess.
struct ImportLine: Decodable {
    var project: String
    var token: String
    var label: String?
    var waba: String?
    var expiresAt: String?

    static let fields: Set<String> = ["project", "token", "label", "waba", "expires_at"]

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    struct UnknownField: Error {
        var name: String
    }

    struct DuplicateField: Error {
        var name: String
    }

    /// Decodes one line, refusing a field given twice: JSONDecoder keeps one of the two silently,
    /// and which token or expiry was meant cannot be known.
    static func decode(_ bytes: ArraySlice<UInt8>, decoder: JSONDecoder) throws -> ImportLine {
        let line = try decoder.decode(ImportLine.self, from: Data(bytes))
        if let repeated = repeatedKey(inObject: bytes) {
            throw DuplicateField(name: repeated)
        }
        return line
    }

    /// The first key the top-level object of `json` (valid JSON) holds twice, if any.
    static func repeatedKey(inObject json: ArraySlice<UInt8>) -> String? {
        // A line has a handful of keys: a list is cheaper than a set.
        var seen: [String] = []
        var depth = 0
        var expectingKey = false
        var index = json.startIndex
        while index < json.endIndex {
            let byte = json[index]
            switch byte {
            case UInt8(ascii: "\""):
                // A string: find its end, stepping over escapes.
                var end = index + 1
                var escaped = false
                while end < json.endIndex {
                    if escaped {
                        escaped = false
                    } else if json[end] == UInt8(ascii: "\\") {
                        escaped = true
                    } else if json[end] == UInt8(ascii: "\"") {
                        break
                    }
                    end += 1
                }
                if depth == 1, expectingKey {
                    expectingKey = false
                    let inner = json[(index + 1)..<min(end, json.endIndex)]
                    var name = String(decoding: inner, as: UTF8.self)
                    // Escapes (`\u0070roject`) name the same key as plain text does.
                    if inner.contains(UInt8(ascii: "\\")),
                        let unescaped = try? JSONDecoder().decode(
                            String.self,
                            from: Data(json[index...min(end, json.endIndex - 1)])
                        )
                    {
                        name = unescaped
                    }
                    if seen.contains(name) { return name }
                    seen.append(name)
                }
                index = end
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                expectingKey = depth == 1 && byte == UInt8(ascii: "{")
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            case UInt8(ascii: ","):
                if depth == 1 { expectingKey = true }
            default:
                break
            }
            index += 1
        }
        return nil
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        if let unknown = container.allKeys.first(where: { !Self.fields.contains($0.stringValue) }) {
            throw UnknownField(name: unknown.stringValue)
        }
        project = try container.decode(String.self, forKey: Key(stringValue: "project"))
        token = try container.decode(String.self, forKey: Key(stringValue: "token"))
        label = try container.decodeIfPresent(String.self, forKey: Key(stringValue: "label"))
        waba = try container.decodeIfPresent(String.self, forKey: Key(stringValue: "waba"))
        expiresAt = try container.decodeIfPresent(String.self, forKey: Key(stringValue: "expires_at"))
    }

    /// A sentence about a decoding failure that names the field, never the value.
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as UnknownField:
            // A key can be anything, a token among them (`{"EAAG…":"p1"}`): only a name shaped
            // like a field's is quoted back.
            let shaped = error.name.count <= 32 && error.name.allSatisfy { $0.isASCII && ($0.isLetter || $0 == "_") }
            let name = shaped ? "\"\(error.name)\"" : "(a name no field has)"
            return "unknown field \(name) (expected \(fields.sorted().joined(separator: ", ")))"
        case let error as DuplicateField:
            return "field \"\(error.name)\" is given twice"
        case DecodingError.keyNotFound(let key, _):
            return "missing \"\(key.stringValue)\""
        case DecodingError.valueNotFound(_, let context):
            return "\"\(context.codingPath.last?.stringValue ?? "?")\" is null"
        case DecodingError.typeMismatch(_, let context):
            guard let field = context.codingPath.last?.stringValue else { return "not a JSON object" }
            return "\"\(field)\" must be a string"
        default:
            return "not valid JSON"
        }
    }
}
