/// The duration syntax of <doc:CLIContract#Conventions>: an integer and a unit (`ms`, `s`, `m`, `h`, `d`, `w`).
package enum DurationText {
    /// Parses `90s`, `20d`, `2w`, `250ms`; returns nil for anything else (no sign, no spaces, no mix).
    package static func parse(_ text: some StringProtocol) -> Duration? {
        let units: [(suffix: String, seconds: Int64)] = [
            ("ms", 0), ("s", 1), ("m", 60), ("h", 3_600), ("d", 86_400), ("w", 604_800),
        ]
        for unit in units where text.hasSuffix(unit.suffix) {
            let digits = text.dropLast(unit.suffix.count)
            // "5ms" also ends in "s": only accept the unit whose prefix is all digits.
            guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                let value = Int64(digits)
            else { continue }
            // Beyond a century is a typo, not a policy, in milliseconds too (else `format` would
            // write it in seconds that do not parse).
            let century: Int64 = 100 * 365 * 86_400
            if unit.seconds == 0 { return value <= century * 1_000 ? .milliseconds(value) : nil }
            let (seconds, overflow) = value.multipliedReportingOverflow(by: unit.seconds)
            guard !overflow, seconds <= century else { return nil }
            return .seconds(seconds)
        }
        return nil
    }

    /// Parses a duration for a named setting, or throws the configuration error that names both.
    package static func parse(_ text: String, key: String) throws -> Duration {
        guard let duration = parse(text) else {
            throw TokenKeeperError(
                .configuration,
                "invalid duration for \(key): \(Echo.quoted(text)) (expected an integer and a unit: ms, s, m, h, d or w, as in 90s, 20d or 2w)"
            )
        }
        return duration
    }

    /// Formats a duration in its largest whole unit: `14d`, `36h`, `90s`.
    package static func format(_ duration: Duration) -> String {
        let seconds = duration.wholeSeconds
        let millis = duration.components.attoseconds / 1_000_000_000_000_000
        if millis != 0 || seconds == 0 { return "\(seconds * 1_000 + millis)ms" }
        for (suffix, size) in [("d", Int64(86_400)), ("h", 3_600), ("m", 60)] where seconds % size == 0 {
            return "\(seconds / size)\(suffix)"
        }
        return "\(seconds)s"
    }

    /// A coarse, human distance such as `12d`, `5h`, `3m`, `40s`; the sign is ignored.
    package static func approximate(seconds: Int64) -> String {
        let magnitude = Int64(clamping: seconds.magnitude)
        for (suffix, size) in [("d", Int64(86_400)), ("h", 3_600), ("m", 60)] where magnitude >= 2 * size {
            return "\(magnitude / size)\(suffix)"
        }
        return "\(magnitude)s"
    }

    /// "in 12d" for a future instant, "3h ago" for a past one, relative to `now`.
    package static func relative(_ time: UnixTime, now: UnixTime) -> String {
        // Saturated: the distance from now to a damaged database's extreme value overflows.
        let (difference, overflow) = time.seconds.subtractingReportingOverflow(now.seconds)
        let delta = overflow ? (time < now ? Int64.min : Int64.max) : difference
        return delta >= 0 ? "in \(approximate(seconds: delta))" : "\(approximate(seconds: delta)) ago"
    }
}
