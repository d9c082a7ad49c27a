import Foundation

/// The keys of a JSON object's top level, in order and with repeats, for the import harness to
/// check `ImportLine`'s repeated-field refusal against: a recursive descent over values, written
/// apart from the importer's scan that counts brackets, so that one can catch the other's slip.
struct JSONKeys {
    private let bytes: ArraySlice<UInt8>
    private var index: Int

    /// The top-level keys of `json`, which JSONDecoder has read as valid; nil when it is not one
    /// UTF-8 object (JSONDecoder also reads UTF-16 and UTF-32, which this does not).
    static func of(_ json: ArraySlice<UInt8>) -> [String]? {
        var parser = JSONKeys(bytes: json, index: json.startIndex)
        parser.skipSpace()
        guard parser.peek == UInt8(ascii: "{") else { return nil }
        var keys: [String] = []
        guard parser.object(depth: 0, keys: &keys) else { return nil }
        parser.skipSpace()
        return parser.index == json.endIndex ? keys : nil
    }

    private var peek: UInt8? { index < bytes.endIndex ? bytes[index] : nil }

    private mutating func skipSpace() {
        while let byte = peek, [0x20, 0x09, 0x0A, 0x0D].contains(byte) { index += 1 }
    }

    /// An object from its `{`; the keys are kept at the top level only.
    private mutating func object(depth: Int, keys: inout [String]) -> Bool {
        index += 1
        skipSpace()
        if peek == UInt8(ascii: "}") {
            index += 1
            return true
        }
        while true {
            skipSpace()
            guard let key = string() else { return false }
            if depth == 0 { keys.append(key) }
            skipSpace()
            guard peek == UInt8(ascii: ":") else { return false }
            index += 1
            guard value(depth: depth + 1) else { return false }
            skipSpace()
            switch peek {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return true
            default: return false
            }
        }
    }

    private mutating func value(depth: Int) -> Bool {
        skipSpace()
        guard depth < 1_000, let byte = peek else { return false }
        switch byte {
        case UInt8(ascii: "{"):
            var ignored: [String] = []
            return object(depth: depth, keys: &ignored)
        case UInt8(ascii: "["):
            index += 1
            skipSpace()
            if peek == UInt8(ascii: "]") {
                index += 1
                return true
            }
            while true {
                guard value(depth: depth + 1) else { return false }
                skipSpace()
                switch peek {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"):
                    index += 1
                    return true
                default: return false
                }
            }
        case UInt8(ascii: "\""):
            return string() != nil
        default:
            // A number, true, false or null: JSONDecoder has checked its spelling.
            let start = index
            while let byte = peek, !",]} \t\r\n".utf8.contains(byte) { index += 1 }
            return index > start
        }
    }

    /// A string from its opening quote, unescaped.
    private mutating func string() -> String? {
        guard peek == UInt8(ascii: "\"") else { return nil }
        let start = index
        index += 1
        while let byte = peek, byte != UInt8(ascii: "\"") {
            index += byte == UInt8(ascii: "\\") ? 2 : 1
        }
        guard index < bytes.endIndex else { return nil }
        index += 1
        return try? JSONDecoder().decode(String.self, from: Data(bytes[start..<index]))
    }
}
