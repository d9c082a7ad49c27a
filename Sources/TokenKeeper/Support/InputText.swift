/// Characters refused in text given to `add` and `import`, found with their position so that a
/// refusal can say where they are without quoting a value that may be a secret.
package enum InputText {
    /// The first scalar of `text` (1-based) for which `isRefused` holds, with its position.
    static func first(
        in text: String,
        where isRefused: (Unicode.Scalar) -> Bool
    ) -> (scalar: Unicode.Scalar, position: Int)? {
        for (offset, scalar) in text.unicodeScalars.enumerated() where isRefused(scalar) {
            return (scalar, offset + 1)
        }
        return nil
    }

    /// An invisible format character (Unicode category Cf): a zero-width space, a bidi mark, a
    /// soft hyphen. Text that holds one looks like text that does not.
    static func isFormat(_ scalar: Unicode.Scalar) -> Bool { scalar.properties.generalCategory == .format }

    /// The zero-width joiners a label may hold: Persian and Indic names, and emoji, need them.
    static let joiners: Set<Unicode.Scalar> = ["\u{200C}", "\u{200D}"]

    /// `U+200B at position 3`: where a refused character is, and which.
    static func describe(_ found: (scalar: Unicode.Scalar, position: Int)) -> String {
        "\(codePoint(found.scalar)) at position \(found.position)"
    }

    /// `U+200B`, `U+0000`, `U+1F600`.
    static func codePoint(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}
