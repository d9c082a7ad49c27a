import TokenKeeper

/// `time`: the input as the text of a duration and of a timestamp, and its first 16 bytes as
/// numbers of seconds for the formatters.
///
/// Promises: nothing traps, whatever the size of the numbers; what parses formats back to text
/// that parses to the same value; the throwing parser throws only the configuration error.
enum TimeHarness {
    /// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the instants that have a four-digit year,
    /// which is all RFC 3339 can write.
    static let writable: ClosedRange<Int64> = -62_167_219_200...253_402_300_799

    /// Feeds the input to every parser and formatter; each must cope with any of it.
    static func run(_ input: [UInt8]) {
        let text = String(decoding: input, as: UTF8.self)
        checkDuration(text)
        if let time = RFC3339.parse(text) {
            checkRoundTrip(time)
        }
        let (first, second) = numbers(in: input)
        // Any stored second must format without trapping: a damaged database holds any integer.
        _ = RFC3339.format(UnixTime(seconds: first))
        if writable.contains(first) { checkRoundTrip(UnixTime(seconds: first)) }
        _ = DurationText.approximate(seconds: first)
        // The clock is not a damaged database: any time from 2001 to 2096.
        let now = UnixTime(seconds: 1_000_000_000 + Int64(second.magnitude % 3_000_000_000))
        _ = DurationText.relative(UnixTime(seconds: first), now: now)
    }

    /// Both duration parsers agree, and what they accept survives `format`.
    static func checkDuration(_ text: String) {
        let parsed = DurationText.parse(text)
        do {
            let thrown = try DurationText.parse(text, key: "policy.lifetime")
            require(thrown == parsed, "the two parsers disagree on \(text.debugDescription)")
        } catch {
            require(parsed == nil, "parse(_:key:) threw for \(text.debugDescription), which parses")
            require(
                (error as? TokenKeeperError)?.code == .configuration,
                "parse(_:key:) threw \(type(of: error)): \(error)"
            )
        }
        guard let parsed else { return }
        require(parsed >= .zero, "\(text.debugDescription) parsed to a negative \(parsed)")
        let formatted = DurationText.format(parsed)
        require(
            DurationText.parse(formatted) == parsed,
            "\(text.debugDescription) parsed to \(parsed), formatted as \(formatted), which parses to "
                + "\(String(describing: DurationText.parse(formatted)))"
        )
    }

    /// An instant RFC 3339 can write formats to text that parses back to it.
    static func checkRoundTrip(_ time: UnixTime) {
        let formatted = RFC3339.format(time)
        guard writable.contains(time.seconds) else { return }
        require(
            RFC3339.parse(formatted) == time,
            "\(time.seconds) formatted as \(formatted), which parses to \(String(describing: RFC3339.parse(formatted)))"
        )
    }

    /// Two signed 64-bit numbers from the first 16 bytes (zeros where the input is shorter).
    static func numbers(in input: [UInt8]) -> (Int64, Int64) {
        var bytes = Array(input.prefix(16))
        bytes += Array(repeating: 0, count: 16 - bytes.count)
        let first = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let second = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return (Int64(bitPattern: first), Int64(bitPattern: second))
    }
}
