import Metrics
import SinchProvisioning

/// The refresh series of <doc:CLIContract#Metrics-and-health>, through swift-metrics: `tokenkeeper_refresh_total{result}`
/// and the `tokenkeeper_refresh_duration_seconds` histogram. They cost nothing until the daemon
/// bootstraps Prometheus (`--metrics`).
package enum RefreshMetrics {
    /// The `result` label of an attempt that ended in `state`.
    static func result(_ state: TokenState) -> String {
        switch state {
        case .active: "refreshed"
        case .retrying: "failed"
        case .needsReauth: "needs_reauth"
        case .expired: "expired"
        }
    }

    /// The `result` label of an outcome that was not extended (same token back).
    static let notExtended = "not_extended"

    /// The `# HELP` text of each family above, by name: the registry is given it when a series
    /// is made (every series of a family must carry the same text).
    package static let help: [String: String] = [
        "tokenkeeper_refresh_total": "Refresh attempts by this process, by result.",
        "tokenkeeper_refresh_duration_seconds": "Time on the wire per refresh call, in seconds.",
        "tokenkeeper_project_pauses_total": "Project pauses this process started, by reason.",
        "tokenkeeper_probe_total": "Probes by this process, by result.",
    ]

    /// Creates every series at zero, so a scrape shows them (and `rate()` works) before the
    /// first refresh.
    package static func declare() {
        for state in TokenState.allCases {
            Counter(label: "tokenkeeper_refresh_total", dimensions: [("result", result(state))]).increment(by: 0)
        }
        Counter(label: "tokenkeeper_refresh_total", dimensions: [("result", notExtended)]).increment(by: 0)
        _ = Metrics.Timer(label: "tokenkeeper_refresh_duration_seconds")
        for reason in pauseReasons {
            Counter(label: "tokenkeeper_project_pauses_total", dimensions: [("reason", reason)]).increment(by: 0)
        }
        for result in probeResults {
            Counter(label: "tokenkeeper_probe_total", dimensions: [("result", result)]).increment(by: 0)
        }
    }

    /// The `result` label of `tokenkeeper_probe_total`.
    static let probeResults = ["accepted", "refused", "failed"]

    /// One probe that ended in `result` (one of ``probeResults``).
    static func recordProbe(_ result: String) {
        Counter(label: "tokenkeeper_probe_total", dimensions: [("result", result)]).increment()
    }

    /// The `reason` label of `tokenkeeper_project_pauses_total`.
    static let pauseReasons = ["throttled", "credentials", "timeouts"]

    /// A project paused by this process after `error`.
    static func recordPause(_ error: SinchError) {
        let reason =
            switch error.errorClass {
            case .throttled: "throttled"
            case .credentials: "credentials"
            default: "timeouts"
            }
        Counter(label: "tokenkeeper_project_pauses_total", dimensions: [("reason", reason)]).increment()
    }

    /// One attempt that ended in `decision`, after `latency` on the wire when Sinch was called.
    static func record(_ decision: RefreshStateMachine.Decision, latency: Duration?) {
        let label = decision.event == .notExtended ? notExtended : result(decision.state)
        Counter(label: "tokenkeeper_refresh_total", dimensions: [("result", label)]).increment()
        guard let latency else { return }
        Metrics.Timer(label: "tokenkeeper_refresh_duration_seconds").recordSeconds(latency / .seconds(1))
    }
}
