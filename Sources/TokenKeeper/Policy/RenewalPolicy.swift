/// When a token should be refreshed: the renewal policy of <doc:SinchAPI#The-renewal-policy>, as plain values.
package struct RenewalPolicy: Sendable, Equatable {
    /// How much random spread to take off each token's refresh time.
    package enum Jitter: Sendable, Equatable {
        /// A share of `renewBefore` (0.1 is 10 %).
        case fraction(Double)
        case duration(Duration)
    }

    /// How long a token lives after an exchange (the API returns no expiry).
    package var lifetime: Duration
    /// How long before expiry the refresh is due.
    package var renewBefore: Duration
    /// The youngest a token may be when it is refreshed (Meta extends at most once a day).
    package var minAge: Duration
    package var jitter: Jitter
    package var backoffMin: Duration
    package var backoffMax: Duration

    package init(
        lifetime: Duration = .seconds(60 * 86_400),
        renewBefore: Duration? = nil,
        minAge: Duration? = nil,
        jitter: Jitter = .fraction(0.1),
        backoffMin: Duration = .seconds(60),
        backoffMax: Duration = .seconds(6 * 3_600)
    ) {
        self.lifetime = lifetime
        self.renewBefore = renewBefore ?? lifetime / 3
        self.minAge = minAge ?? min(.seconds(86_400), lifetime / 3)
        self.jitter = jitter
        self.backoffMin = backoffMin
        self.backoffMax = backoffMax
    }

    /// The largest jitter this policy takes off a refresh time.
    package var maximumJitter: Duration {
        switch jitter {
        case .fraction(let share): .seconds(Int64((Double(renewBefore.wholeSeconds) * share).rounded(.down)))
        case .duration(let duration): duration
        }
    }

    /// The first refresh time of a token issued at `issuedAt` that expires at `expiresAt`:
    /// `renewBefore` ahead of expiry, minus a random jitter, but not before the token is `minAge` old.
    package func firstRefresh(
        issuedAt: UnixTime,
        expiresAt: UnixTime,
        using generator: inout some RandomNumberGenerator
    ) -> UnixTime {
        let spread = maximumJitter.wholeSeconds
        let jitter = spread > 0 ? Int64.random(in: 0...spread, using: &generator) : 0
        let target = UnixTime(seconds: expiresAt.seconds - renewBefore.wholeSeconds - jitter)
        return max(target, issuedAt + minAge)
    }

    /// Checks the settings against each other; throws a configuration error naming the conflict.
    package func validate() throws {
        func fail(_ message: String) -> TokenKeeperError { TokenKeeperError(.configuration, message) }
        guard lifetime > .zero else { throw fail("policy.lifetime must be longer than zero") }
        guard renewBefore > .zero else {
            throw fail(
                "policy.renew_before must be longer than zero: it is how long before its expiry a token is refreshed, such as 20d"
            )
        }
        guard renewBefore < lifetime else {
            throw fail(
                "policy.renew_before (\(DurationText.format(renewBefore))) must be shorter than policy.lifetime (\(DurationText.format(lifetime)))"
            )
        }
        guard minAge < lifetime - renewBefore || minAge == .zero else {
            throw fail(
                "policy.min_age (\(DurationText.format(minAge))) leaves no time to refresh before policy.renew_before"
            )
        }
        if case .fraction(let share) = jitter, !(0...1).contains(share) {
            throw fail("policy.jitter must be between 0% and 100%")
        }
        guard maximumJitter < renewBefore else {
            throw fail("policy.jitter (\(DurationText.format(maximumJitter))) must be shorter than policy.renew_before")
        }
        guard backoffMin > .zero, backoffMin <= backoffMax else {
            throw fail("policy.backoff_min must be longer than zero and no longer than policy.backoff_max")
        }
    }
}
