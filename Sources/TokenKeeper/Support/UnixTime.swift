import Foundation

/// A wall-clock instant in whole seconds since 1970, the unit every stored time uses.
///
/// Integers keep a store's indexes small and let an operator query the database with its own
/// tools (the `sqlite3` command line, for the SQLite store).
package struct UnixTime: Hashable, Comparable, Sendable, Codable {
    package var seconds: Int64

    package init(seconds: Int64) { self.seconds = seconds }

    package init(_ date: Date) { self.seconds = Int64(date.timeIntervalSince1970.rounded(.down)) }

    package var date: Date { Date(timeIntervalSince1970: TimeInterval(seconds)) }

    package static func < (lhs: UnixTime, rhs: UnixTime) -> Bool { lhs.seconds < rhs.seconds }

    package static func + (lhs: UnixTime, rhs: Duration) -> UnixTime {
        UnixTime(seconds: lhs.seconds + rhs.wholeSeconds)
    }

    package static func - (lhs: UnixTime, rhs: Duration) -> UnixTime {
        UnixTime(seconds: lhs.seconds - rhs.wholeSeconds)
    }

    /// The signed number of seconds from `other` to `self`.
    package func seconds(since other: UnixTime) -> Int64 { seconds - other.seconds }

    package init(from decoder: any Decoder) throws {
        seconds = try decoder.singleValueContainer().decode(Int64.self)
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(seconds)
    }
}

extension Duration {
    /// The duration in whole seconds, rounded down.
    package var wholeSeconds: Int64 { components.seconds }

    /// A duration as a `TimeInterval`, for APIs that want one.
    package var timeInterval: TimeInterval {
        TimeInterval(components.seconds) + TimeInterval(components.attoseconds) / 1e18
    }
}
