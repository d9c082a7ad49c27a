import Foundation

/// Where "now" comes from: wall-clock seconds since 1970, with a fraction.
///
/// The one clock abstraction of the package. The Sinch client reads it for bearer renewal and
/// `Retry-After` dates, FakeSinch for token expiry, its OAuth2 bucket and its per-second counts,
/// and tokenkeeper for every stored time (as whole seconds). Tests give each of them a manual
/// clock and move it by hand instead of sleeping.
public protocol WallClock: Sendable {
    var secondsSince1970: Double { get }
}

/// The system's wall clock.
public struct SystemClock: WallClock {
    public init() {}

    public var secondsSince1970: Double { Date().timeIntervalSince1970 }
}
