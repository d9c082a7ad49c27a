/// Token ids: `tk_` and 12 random hex digits (48 bits), opaque to everyone but humans reading them.
package enum TokenID {
    package static func generate(using generator: inout some RandomNumberGenerator) -> String {
        let value = generator.next() & 0xffff_ffff_ffff
        let hex = String(value, radix: 16)
        return "tk_" + String(repeating: "0", count: 12 - hex.count) + hex
    }

    package static func generate() -> String {
        var generator = SystemRandom()
        return generate(using: &generator)
    }
}
