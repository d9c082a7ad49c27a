import Foundation

/// Where "now" comes from. Everything that asks the time takes one, so tests drive a manual clock.
public protocol WallClock: Sendable {
    var now: UnixTime { get }
}

/// The system's wall clock.
public struct SystemClock: WallClock {
    public init() {}

    public var now: UnixTime { UnixTime(Date()) }
}
