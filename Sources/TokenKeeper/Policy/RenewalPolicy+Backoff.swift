extension RenewalPolicy {
    /// How close to expiry a retry may be scheduled at the latest: a last attempt must still
    /// leave time for a person to react.
    public static let lastRetryMargin: Duration = .seconds(3_600)

    /// The backoff ceiling after the `failures`-th consecutive failure: `backoffMin × 2^(n−1)`,
    /// capped at `backoffMax`.
    public func backoffCeiling(afterFailure failures: Int) -> Duration {
        let doublings = min(max(failures - 1, 0), 40)
        let seconds = backoffMin.wholeSeconds.multipliedReportingOverflow(by: Int64(1) << doublings)
        guard !seconds.overflow else { return backoffMax }
        return min(.seconds(seconds.partialValue), backoffMax)
    }

    /// When to try again after the `failures`-th consecutive failure: a uniformly random wait up
    /// to ``backoffCeiling(afterFailure:)`` (full jitter, so tokens that failed together do not
    /// retry together), no sooner than `notBefore` (Sinch's `Retry-After`), and never past
    /// `expiresAt − 1 h`. Inside that last hour it retries every `backoffMin` until expiry.
    public func retryTime(
        afterFailure failures: Int,
        now: UnixTime,
        expiresAt: UnixTime,
        notBefore: Duration? = nil,
        using generator: inout some RandomNumberGenerator
    ) -> UnixTime {
        let ceiling = backoffCeiling(afterFailure: failures).wholeSeconds
        // At least a second: a zero wait would spin on a failing call.
        var time = now + .seconds(max(1, Int64.random(in: 0...max(ceiling, 0), using: &generator)))
        let latest = expiresAt - Self.lastRetryMargin
        if time > latest {
            time = latest > now ? latest : min(time, now + backoffMin)
        }
        if let notBefore, time < now + notBefore { time = now + notBefore }
        return time
    }
}
