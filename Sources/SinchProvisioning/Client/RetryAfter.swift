/// `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
public enum RetryAfter {
    /// The wait `value` asks for, measured from `now` (Unix seconds) for a date; nil when the
    /// value is neither form. A date in the past means no wait.
    public static func parse(_ value: String, now: Double) -> Duration? {
        let text = value.trimmingWhitespace()
        if let seconds = Int64(text) {
            return seconds >= 0 ? .seconds(min(seconds, 86_400 * 7)) : nil
        }
        guard let date = httpDate(text) else { return nil }
        let wait = max(0, Double(date) - now)
        return .seconds(min(wait.rounded(.up), 86_400 * 7))
    }

    /// IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`, the form servers must send.
    static func httpDate(_ text: String) -> Int64? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[0].hasSuffix(","), parts[5] == "GMT",
            let day = Int64(parts[1]), (1...31).contains(day),
            let month = months.firstIndex(of: String(parts[2])),
            let year = Int64(parts[3]), year >= 1970
        else { return nil }
        let clock = parts[4].split(separator: ":")
        guard clock.count == 3, let hour = Int64(clock[0]), let minute = Int64(clock[1]),
            let second = Int64(clock[2]), (0..<24).contains(hour), (0..<60).contains(minute),
            (0...60).contains(second)
        else { return nil }
        return daysFromCivil(year: year, month: Int64(month) + 1, day: day) * 86_400 + hour * 3600 + minute * 60
            + second
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
