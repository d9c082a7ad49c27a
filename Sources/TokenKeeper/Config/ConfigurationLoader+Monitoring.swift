extension ConfigurationLoader {
    /// `metrics.per_token`, `check.stale` and `policy.probe_every`.
    static func loadMonitoring(
        into config: inout TokenKeeperConfiguration,
        string: (String) -> String?,
        name: (String) -> String
    ) throws {
        if let text = string("metrics.per_token") {
            guard let value = TokenKeeperConfiguration.PerTokenSeries(rawValue: text) else {
                let choices = TokenKeeperConfiguration.PerTokenSeries.allCases.map(\.rawValue).joined(separator: ", ")
                throw TokenKeeperError(
                    .configuration,
                    "invalid value for \(name("metrics.per_token")): \(Echo.quoted(text)) (expected one of \(choices))"
                )
            }
            config.perTokenSeries = value
        }
        if let text = string("check.stale") {
            config.checkStale = try parseDurationOrOff(text, key: name("check.stale"))
        }
        if let text = string("policy.probe_every") {
            // `0`, like an absent key, probes never; anything under a minute would spend the
            // rate limit on probes.
            config.probeEvery = try parseDurationOrOff(text, key: name("policy.probe_every"))
            if let every = config.probeEvery, every < .seconds(60) {
                throw TokenKeeperError(
                    .configuration,
                    "invalid value for \(name("policy.probe_every")): \(DurationText.format(every)) is too short; at least 1m, such as 7d, or 0 for never"
                )
            }
        }
    }

    /// A duration, or `0` (or a zero duration) for off: `check.stale`, `policy.probe_every`.
    package static func parseDurationOrOff(_ text: String, key: String) throws -> Duration? {
        if text == "0" { return nil }
        let duration = try DurationText.parse(text, key: key)
        return duration == .zero ? nil : duration
    }
}
