import Foundation

/// Where "now" comes from. Everything that asks the time takes one, so tests drive a manual clock.
package protocol WallClock: Sendable {
    var now: UnixTime { get }
}

/// The system's wall clock.
package struct SystemClock: WallClock {
    package init() {}

    package var now: UnixTime { UnixTime(Date()) }
}
