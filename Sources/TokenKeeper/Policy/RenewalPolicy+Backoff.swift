extension RenewalPolicy {
    /// How close to expiry a retry may be scheduled at the latest: a last attempt must still
    /// leave time for a person to react.
    package static let lastRetryMargin: Duration = .seconds(3_600)

    /// The backoff ceiling after the `failures`-th consecutive failure: `backoffMin × 2^(n−1)`,
    /// capped at `backoffMax`.
    package func backoffCeiling(afterFailure failures: Int) -> Duration {
        let doublings = min(max(failures - 1, 0), 40)
        let seconds = backoffMin.wholeSeconds.multipliedReportingOverflow(by: Int64(1) << doublings)
        guard !seconds.overflow else { return backoffMax }
        return min(.seconds(seconds.partialValue), backoffMax)
    }

    /// The last safe moment to try a token that expires at `expiresAt`: ``lastRetryMargin`` before
    /// it dies, so a last failure still leaves a person time to react.
    package static func lastSafeMoment(expiresAt: UnixTime) -> UnixTime { expiresAt - lastRetryMargin }

    /// When to try again after the `failures`-th consecutive failure: a uniformly random wait up
    /// to ``backoffCeiling(afterFailure:)`` (full jitter, so tokens that failed together do not
    /// retry together), no sooner than `notBefore` (Sinch's `Retry-After`, a project's pause),
    /// and never past the token's last safe moment, whatever asked for a longer wait: a token
    /// whose remaining life is shorter than the wait is tried at that moment. Inside its last
    /// hour it retries every `backoffMin` until expiry.
    package func retryTime(
        afterFailure failures: Int,
        now: UnixTime,
        expiresAt: UnixTime,
        notBefore: Duration? = nil,
        using generator: inout some RandomNumberGenerator
    ) -> UnixTime {
        let ceiling = backoffCeiling(afterFailure: failures).wholeSeconds
        // At least a second: a zero wait would spin on a failing call.
        var time = now + .seconds(max(1, Int64.random(in: 0...max(ceiling, 0), using: &generator)))
        if let notBefore, time < now + notBefore { time = now + notBefore }
        let latest = Self.lastSafeMoment(expiresAt: expiresAt)
        if time > latest {
            time = latest > now ? latest : min(time, now + backoffMin)
        }
        return time
    }
}
