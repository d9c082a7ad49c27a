import Foundation
import WallTime

/// How a ``FakeSinch`` behaves: its access key, the lifetimes it grants, and its clock.
public struct FakeSinchConfiguration: Sendable {
    /// The access key id clients must present (Basic user, or at `/oauth2/token`).
    public var keyID: String
    /// The access key secret clients must present.
    public var keySecret: String
    /// Lifetime of each long-lived token issued (Meta documents about 60 days).
    public var tokenLifetime: Duration
    /// Lifetime of each OAuth2 bearer token; sent as `expires_in`.
    public var bearerLifetime: Duration
    /// When true, `/oauth2/token` is a token bucket of 30 refilling 10 per second, as Sinch documents;
    /// an empty bucket answers 429 without `Retry-After`.
    public var oauthRateLimit: Bool
    /// How long a `.hang` fault keeps a request unanswered (it also ends at ``FakeSinch/stop()``).
    public var hangLimit: Duration
    /// The wall clock. Token and bearer expiry, the OAuth2 bucket and the per-second statistics
    /// read it, so a test can move time without sleeping.
    public var clock: any WallClock

    public init(
        keyID: String = "fake-key-id",
        keySecret: String = "fake-key-secret",
        tokenLifetime: Duration = .seconds(60 * 24 * 3600),
        bearerLifetime: Duration = .seconds(3600),
        oauthRateLimit: Bool = true,
        hangLimit: Duration = .seconds(300),
        clock: any WallClock = SystemClock()
    ) {
        self.keyID = keyID
        self.keySecret = keySecret
        self.tokenLifetime = tokenLifetime
        self.bearerLifetime = bearerLifetime
        self.oauthRateLimit = oauthRateLimit
        self.hangLimit = hangLimit
        self.clock = clock
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var fakeSinchSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
