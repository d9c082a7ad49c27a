/// A small, fast generator for the fake's token strings and draws (SplitMix64).
///
/// Not cryptographic: these tokens guard nothing. Seeded from the system generator so two fakes
/// in one process never mint the same strings.
struct FakeRandom: RandomNumberGenerator {
    private var state: UInt64

    init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    private static let alphanumerics = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// `prefix` followed by `count` random letters and digits.
    mutating func alphanumeric(_ count: Int, prefix: String = "") -> String {
        text(count, prefix: prefix, alphabet: Self.alphanumerics)
    }

    /// `prefix` followed by `count` random lower-case hex digits.
    mutating func hex(_ count: Int, prefix: String = "") -> String {
        text(count, prefix: prefix, alphabet: Self.hexDigits)
    }

    private mutating func text(_ count: Int, prefix: String, alphabet: [UInt8]) -> String {
        var bytes = Array(prefix.utf8)
        bytes.reserveCapacity(bytes.count + count)
        let base = UInt64(alphabet.count)
        var word = next()
        var left = 10  // 62^10 < 2^64, so one word yields ten characters with negligible bias
        for _ in 0..<count {
            if left == 0 {
                word = next()
                left = 10
            }
            bytes.append(alphabet[Int(word % base)])
            word /= base
            left -= 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
