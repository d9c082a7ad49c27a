import Foundation

/// RFC 3339 in UTC, formatted and parsed independently of the code under test.
enum CLITime {
    static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    static func parse(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    /// `now` moved by a whole number of days, to the second.
    static func days(_ days: Double, from now: Date = Date()) -> Date {
        Date(timeIntervalSince1970: (now.timeIntervalSince1970 + days * 86_400).rounded(.down))
    }

    /// Whether `text` is `YYYY-MM-DDTHH:MM:SSZ`.
    static func isUTCStamp(_ text: String) -> Bool {
        text.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z/) != nil
    }
}

/// A JSON value that keeps the types apart (integer, string, null), for checking output shapes.
enum CLIJSON: Equatable, Decodable, Sendable {
    case null
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case array([CLIJSON])
    case object([String: CLIJSON])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([CLIJSON].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: CLIJSON].self))
        }
    }

    static func parse(_ text: String) throws -> CLIJSON {
        try JSONDecoder().decode(CLIJSON.self, from: Data(text.utf8))
    }

    /// JSON Lines: one value a non-empty line.
    static func parseLines(_ text: String) throws -> [CLIJSON] {
        try text.split(separator: "\n").map { try parse(String($0)) }
    }

    subscript(key: String) -> CLIJSON? {
        if case .object(let object) = self { object[key] } else { nil }
    }

    var string: String? { if case .string(let value) = self { value } else { nil } }
    var array: [CLIJSON]? { if case .array(let value) = self { value } else { nil } }
    var object: [String: CLIJSON]? { if case .object(let value) = self { value } else { nil } }
    var bool: Bool? { if case .bool(let value) = self { value } else { nil } }
}
