/// A project's pause after throttling or refused credentials, and how many pauses in a row it
/// has had (each one longer, like a token's backoff). A success in the project clears it.
struct ProjectThrottle: Sendable, Equatable {
    var until = UnixTime(seconds: 0)
    var strikes = 0
    /// The project's calls in a row that timed out; any other answer starts it over.
    var timeouts = 0

    func isPaused(at now: UnixTime) -> Bool { until > now }

    /// The strikes that size a pause starting at `now`: answers that arrive during a pause (the
    /// requests in flight when it began) belong to the strike that started it.
    func strikesBefore(_ now: UnixTime) -> Int { isPaused(at: now) ? max(strikes - 1, 0) : strikes }

    mutating func pause(until end: UnixTime, now: UnixTime) {
        if !isPaused(at: now) { strikes += 1 }
        until = max(until, end)
    }
}
