import FakeSinch
import Foundation
import SinchProvisioning
import Testing
import TokenKeeperTesting

/// `daemon --metrics` with the default `metrics.per_token` (`attention`): per-token series only
/// for the tokens that need attention, store-wide gauges for all, and the daemon's own last pass.
@Suite struct AttentionMetricsCLITests {
    static let expiry = "tokenkeeper_token_expiry_timestamp_seconds"
    static let refresh = "tokenkeeper_token_refresh_timestamp_seconds"

    /// The value of the one sample `series` (the name and its labels, as printed), if present.
    static func value(_ series: String, in text: String) -> Double? {
        text.split(separator: "\n").lazy.filter { $0.hasPrefix(series + " ") }
            .compactMap { Double($0.dropFirst(series.count + 1)) }.first
    }

    /// The samples of `name` (labels parsed), whatever their labels.
    static func samples(_ name: String, in text: String) -> [(labels: [String: String], value: Double)] {
        text.split(separator: "\n").compactMap { line in
            guard line.hasPrefix(name + "{"), let close = line.lastIndex(of: "}"),
                let value = Double(line[line.index(after: close)...].drop { $0 == " " })
            else { return nil }
            let labels = PrometheusText.labels(line[line.index(line.startIndex, offsetBy: name.count + 1)..<close])
            return (labels, value)
        }
    }

    @Test(.timeLimit(.minutes(6)), arguments: TestBackend.all)
    func onlyTokensThatNeedAttentionHaveSeriesAndTheGaugesCountAll(_ backend: TestBackend) async throws {
        try await SinchHarness.scene { sinch in
            // Renew-before 1d: the token that expires in 10 days is not refreshed (and so leaves
            // the attention set) while the test looks.
            let sandbox = try await CLISandbox.make(
                sinch: sinch,
                environment: ["TOKENKEEPER_RATE": "1000", "TOKENKEEPER_RENEW_BEFORE": "1d"],
                backend: backend
            )
            let values = (0..<4).map { _ in sinch.fake.issueToken() }
            let far = CLITime.format(CLITime.days(50))
            let healthy = try await sandbox.add(values[0], "--expires-at", far)
            let soon = try await sandbox.add(
                values[1],
                "--label",
                "soon",
                "--expires-at",
                CLITime.format(CLITime.days(10))
            )
            let reauth = try await sandbox.add(values[2], project: "p2", "--expires-at", far)
            let failing = try await sandbox.add(values[3], "--expires-at", far)
            try await sandbox.underTheSeam("UPDATE tokens SET state = 'needs_reauth' WHERE id = '\(reauth)'")
            try await sandbox.underTheSeam("UPDATE tokens SET failures = 2 WHERE id = '\(failing)'")
            let listed = try await sandbox.listJSON()
            let soonExpiry = try #require(
                listed.first { $0["id"]?.string == soon }?["expires_at"]?.string.flatMap(CLITime.parse)
            )

            var text = ""
            var owner: String?
            let daemon = try await sandbox.withDaemon { daemon in
                let transport = try sinch.transport()
                text = try await RunningDaemon.get(daemon.url + "/metrics", with: transport).body

                // Per-token series: the token expiring within 14 days, the needs_reauth one (no
                // refresh: it is not live) and the one that failed; never the healthy one.
                let expiries = PrometheusText.samples(Self.expiry, in: text)
                #expect(Set(expiries.keys) == [soon, reauth, failing], "\(text)")
                #expect(Set(PrometheusText.samples(Self.refresh, in: text).keys) == [soon, failing])
                #expect(expiries[soon]?.value == soonExpiry.timeIntervalSince1970)
                #expect(expiries[soon]?.labels == ["id": soon, "project": "p1", "label": "soon"])
                #expect(expiries[reauth]?.labels["project"] == "p2")
                #expect(!text.contains(healthy))

                // Store-wide gauges count every token.
                #expect(Self.value(#"tokenkeeper_tokens{state="active"}"#, in: text) == 3)
                #expect(Self.value(#"tokenkeeper_tokens{state="needs_reauth"}"#, in: text) == 1)
                #expect(Self.value(#"tokenkeeper_tokens{state="retrying"}"#, in: text) == 0)
                #expect(Self.value(#"tokenkeeper_tokens{state="expired"}"#, in: text) == 0)
                let windows = ["1d": 0.0, "3d": 0, "7d": 0, "14d": 1, "30d": 1]
                for (window, count) in windows {
                    #expect(
                        Self.value("tokenkeeper_tokens_expiring{within=\"\(window)\"}", in: text) == count,
                        "\(window)"
                    )
                }
                #expect(
                    Self.value("tokenkeeper_next_expiry_timestamp_seconds", in: text)
                        == soonExpiry.timeIntervalSince1970
                )
                #expect(Self.value("tokenkeeper_next_refresh_timestamp_seconds", in: text) != nil)
                #expect((Self.value(#"tokenkeeper_refreshers{liveness="live"}"#, in: text) ?? 0) >= 1, "\(text)")
                #expect(Self.value(#"tokenkeeper_refreshers{liveness="stale"}"#, in: text) == 0)

                // The daemon's own last pass: its first heartbeat may precede its first pass, and
                // the next comes a minute later.
                let log = try String(contentsOfFile: daemon.log, encoding: .utf8)
                owner = try log.split(separator: "\n").lazy.map { try CLIJSON.parse(String($0)) }
                    .first { $0["msg"]?.string == "daemon started" }?["owner"]?.string
                var passes: [(labels: [String: String], value: Double)] = []
                try await waitUntil("the daemon's last pass in /metrics", within: .seconds(150)) {
                    try await Task.sleep(for: .milliseconds(500))
                    text = try await RunningDaemon.get(daemon.url + "/metrics", with: transport).body
                    passes = Self.samples("tokenkeeper_last_pass_timestamp_seconds", in: text)
                    return !passes.isEmpty
                }
                // One series per host and kind, never per process (owner).
                _ = try #require(owner)
                #expect(passes.map(\.labels) == [["host": ProcessInfo.processInfo.hostName, "kind": "daemon"]])
                let now = Date().timeIntervalSince1970
                #expect(passes.first.map { $0.value <= now && $0.value > now - 300 } == true)
            }
            #expect(daemon.process.terminationStatus == 0)
            let log = try String(contentsOfFile: daemon.log, encoding: .utf8)
            for value in values { #expect(!text.contains(value) && !log.contains(value)) }
        }
    }

    @Test(.timeLimit(.minutes(6)), arguments: TestBackend.all)
    func perTokenNoneHasNoPerTokenSeries(_ backend: TestBackend) async throws {
        try await SinchHarness.scene { sinch in
            let sandbox = try await CLISandbox.make(
                sinch: sinch,
                environment: ["TOKENKEEPER_METRICS_PER_TOKEN": "none", "TOKENKEEPER_RENEW_BEFORE": "1d"],
                backend: backend
            )
            let soon = try await sandbox.add(sinch.fake.issueToken(), "--expires-at", CLITime.format(CLITime.days(10)))
            let reauth = try await sandbox.add(sinch.fake.issueToken())
            try await sandbox.underTheSeam("UPDATE tokens SET state = 'needs_reauth' WHERE id = '\(reauth)'")
            var text = ""
            let daemon = try await sandbox.withDaemon { daemon in
                text = try await RunningDaemon.get(daemon.url + "/metrics", with: try sinch.transport()).body
            }
            #expect(daemon.process.terminationStatus == 0)
            #expect(!text.contains("tokenkeeper_token_expiry_timestamp_seconds"), "\(text)")
            #expect(!text.contains("tokenkeeper_token_refresh_timestamp_seconds"))
            #expect(!text.contains(soon) && !text.contains(reauth))
            // The store-wide gauges stay.
            #expect(Self.value(#"tokenkeeper_tokens{state="needs_reauth"}"#, in: text) == 1)
            #expect(Self.value(#"tokenkeeper_tokens_expiring{within="14d"}"#, in: text) == 1)
            #expect(Self.value(#"tokenkeeper_refreshers{liveness="live"}"#, in: text) != nil)
        }
    }

    @Test func anUnknownPerTokenSelectionStopsTheDaemonNamingTheSetting() async throws {
        let sandbox = try await CLISandbox(environment: ["TOKENKEEPER_METRICS_PER_TOKEN": "bogus"])
        let result = try await sandbox.run("daemon", "--metrics", "127.0.0.1:0")
        #expect(result.status == 64)
        #expect(result.stderr.contains("metrics.per_token"), "\(result.stderr)")
        #expect(result.stderr.contains(#""bogus""#))
        #expect(result.stderr.contains("attention, all, none"))
    }
}
