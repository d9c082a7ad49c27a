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
            return "unknown field \"\(error.name)\" (expected \(fields.sorted().joined(separator: ", ")))"
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
