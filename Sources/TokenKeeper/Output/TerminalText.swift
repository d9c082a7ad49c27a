/// Strings from customers (labels) and from Sinch (names, messages) made safe to print for a
/// person: nothing in them can move the cursor, clear the screen, set the clipboard (OSC 52),
/// start a new line or reorder the text around it.
///
/// Control characters (C0, DEL, C1) and the bidirectional overrides and isolates are shown as
/// escapes: `\n`, `\r`, `\t`, `\x1b` for other bytes below 0x80 and DEL, `\u{202e}` above. A
/// backslash is shown doubled, so that text which spells an escape (a label holding the four
/// characters `\x1b`) never reads like one. JSON output needs none of this (its encoder escapes
/// control characters itself).
package enum TerminalText {
    /// `text` with every character that could drive a terminal shown escaped.
    package static func escape(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { isUnsafe($0) || $0 == "\\" }) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            guard isUnsafe(scalar) || scalar == "\\" else {
                out.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                let hex = String(scalar.value, radix: 16)
                out += scalar.value < 0x80 ? "\\x" + String(repeating: "0", count: 2 - hex.count) + hex : "\\u{\(hex)}"
            }
        }
        return out
    }

    /// C0 controls, DEL, C1 controls, and the bidi embeddings, overrides, isolates and marks.
    static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: true
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    /// Why `value` cannot be an identifier (`project`, `waba`, business manager): a control
    /// character, a space or an invisible format character (a bidi mark, a zero-width space) in
    /// it, named with its position; nil when it can.
    package static func identifierProblem(_ value: String, field: String) -> String? {
        let found = InputText.first(in: value) {
            isUnsafe($0) || $0.properties.isWhitespace || InputText.isFormat($0)
        }
        guard let found else { return nil }
        let kind = InputText.isFormat(found.scalar) ? ", an invisible format character," : ""
        return "\"\(field)\" must not contain spaces or control characters "
            + "(\(InputText.codePoint(found.scalar))\(kind) at position \(found.position))"
    }
}
