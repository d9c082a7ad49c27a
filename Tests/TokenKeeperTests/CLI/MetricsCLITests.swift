import FakeSinch
import Foundation
import SinchProvisioning
import Testing
import TokenKeeperTesting

/// `daemon --metrics`: a real daemon process serving /metrics and /healthz, scraped over HTTP
/// with libcurl; its JSON log lines on standard error.
@Suite struct MetricsCLITests {
    func get(_ url: String, with transport: CurlTransport) async throws -> (status: Int, body: String) {
        try await RunningDaemon.get(url, with: transport)
    }

    @Test(.timeLimit(.minutes(6)), arguments: TestBackend.all)
    func scrapesTokenExpiriesRefreshCountsAndDropsARemovedToken(_ backend: TestBackend) async throws {
        try await SinchHarness.scene { sinch in
            let sandbox = try await CLISandbox.make(
                sinch: sinch,
                // Every token's series, as before `metrics.per_token` (the default names only
                // tokens that need attention: AttentionMetricsCLITests).
                environment: ["TOKENKEEPER_RATE": "1000", "TOKENKEEPER_METRICS_PER_TOKEN": "all"],
                backend: backend
            )
            let soon = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
            let later = ISO8601DateFormatter().string(from: Date().addingTimeInterval(50 * 86_400))
            let due = try await sandbox.add(
                sinch.fake.issueToken(),
                "--label",
                "Acme \"EU\"",
                "--expires-at",
                soon
            )
            let kept = try await sandbox.add(sinch.fake.issueToken(), "--expires-at", later)
            let removed = try await sandbox.add(sinch.fake.issueToken(), project: "p2", "--expires-at", later)
            var text = ""
            let daemon = try await sandbox.withDaemon { daemon in
                let transport = try sinch.transport()

                // The due token is refreshed first; then the scrape reflects it.
                try? await waitUntil("the refresh in /metrics", within: .seconds(30)) {
                    text = try await get(daemon.url + "/metrics", with: transport).body
                    return text.contains(#"tokenkeeper_refresh_total{result="refreshed"} 1"#)
                }
                #expect(text.contains(#"tokenkeeper_refresh_total{result="refreshed"} 1"#), "\(text)")
                #expect(text.contains("tokenkeeper_refresh_duration_seconds_bucket"))
                #expect(text.contains("tokenkeeper_refresh_duration_seconds_count 1"))
                #expect(text.contains(#"tokenkeeper_tokens{state="active"} 3"#))
                #expect(text.contains(#"tokenkeeper_tokens{state="needs_reauth"} 0"#))
                #expect(text.contains(#"label="Acme \"EU\"""#), "label values are escaped")

                let expiries = PrometheusText.samples("tokenkeeper_token_expiry_timestamp_seconds", in: text)
                let listed = try await sandbox.listJSON()
                #expect(Set(expiries.keys) == [due, kept, removed])
                for token in listed {
                    let id = try #require(token["id"]?.string)
                    let expires = try #require(token["expires_at"]?.string.flatMap(CLITime.parse))
                    #expect(expiries[id]?.value == expires.timeIntervalSince1970, "\(id)'s expiry series")
                }
                #expect(
                    Set(PrometheusText.samples("tokenkeeper_token_refresh_timestamp_seconds", in: text).keys) == [
                        due, kept, removed,
                    ]
                )

                // A token removed by another process is gone from the next scrape.
                try await sandbox.succeed("remove", removed)
                let after = try await get(daemon.url + "/metrics", with: transport).body
                #expect(
                    Set(PrometheusText.samples("tokenkeeper_token_expiry_timestamp_seconds", in: after).keys) == [
                        due, kept,
                    ]
                )
                #expect(!after.contains(removed))
            }
            #expect(daemon.process.terminationStatus == 0)
            // Logs: one JSON object a line (standard error is not a terminal), no token values.
            let log = try String(contentsOfFile: daemon.log, encoding: .utf8)
            let lines = try log.split(separator: "\n").map { try CLIJSON.parse(String($0)) }
            let refreshed = try #require(lines.first { $0["msg"]?.string == "refreshed" })
            #expect(refreshed["token.id"]?.string == due)
            #expect(refreshed["sinch.project"]?.string == "p1")
            #expect(refreshed["latency_ms"]?.string != nil)
            #expect(refreshed["level"]?.string == "info")
            #expect(refreshed["ts"]?.string != nil)
            #expect(!log.contains("EAAG"))
            #expect(!text.contains("EAAG"))
        }
    }

    /// Every family a live daemon serves passes Prometheus's own linter, `promtool check metrics`
    /// (HELP and TYPE for each, names and units as Prometheus expects): after a refresh, with a
    /// token that needs a person, so the counters, the histogram and the per-token series are there.
    @Test(
        .timeLimit(.minutes(6)),
        .enabled(if: Promtool.installed || PrometheusAlertsCLITests.required, "promtool is not installed"),
        arguments: TestBackend.all
    )
    func aLiveScrapePassesPromtoolCheckMetrics(_ backend: TestBackend) async throws {
        try #require(Promtool.installed, "a full run needs \(Promtool.binary): apt-get install prometheus")
        try await SinchHarness.scene { sinch in
            let sandbox = try await CLISandbox.make(
                sinch: sinch,
                environment: ["TOKENKEEPER_RATE": "1000", "TOKENKEEPER_METRICS_PER_TOKEN": "all"],
                backend: backend
            )
            let soon = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
            _ = try await sandbox.add(sinch.fake.issueToken(), "--label", "Acme", "--expires-at", soon)
            let revoked = sinch.fake.issueToken()
            sinch.fake.revoke(token: revoked)
            _ = try await sandbox.add(revoked, project: "p2", "--expires-at", soon)
            try await sandbox.withDaemon { daemon in
                let transport = try sinch.transport()
                var text = ""
                try? await waitUntil("both tokens tried in /metrics", within: .seconds(30)) {
                    text = try await get(daemon.url + "/metrics", with: transport).body
                    return text.contains(#"tokenkeeper_refresh_total{result="refreshed"} 1"#)
                        && text.contains(#"tokenkeeper_refresh_total{result="needs_reauth"} 1"#)
                }
                #expect(text.contains("tokenkeeper_refresh_duration_seconds_count"), "\(text)")
                let (status, findings) = try Promtool.checkMetrics(text)
                #expect(status == 0 && findings.isEmpty, "promtool check metrics exited \(status): \(findings)")
            }
        }
    }

    @Test(.timeLimit(.minutes(6)))
    func healthzTurns503WhenTheDatabaseGoesAway() async throws {
        try await SinchHarness.scene { sinch in
            let sandbox = try await CLISandbox.make(sinch: sinch)
            try await sandbox.withDaemon { daemon in
                let transport = try sinch.transport()

                let healthy = try await get(daemon.url + "/healthz", with: transport)
                #expect(healthy.status == 200)
                #expect(healthy.body == "ok\n")

                for suffix in ["", "-wal", "-shm"] {
                    try? FileManager.default.removeItem(atPath: sandbox.databasePath + suffix)
                }
                let gone = try await get(daemon.url + "/healthz", with: transport)
                #expect(gone.status == 503)
                #expect(gone.body.contains("gone"), "\(gone.body)")
            }
        }
    }

    @Test func aMalformedMetricsAddressIsAUsageError() async throws {
        let sandbox = try await CLISandbox()
        let result = try await sandbox.cli.run(["daemon", "--metrics", "localhost"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("invalid --metrics address \"localhost\""))
    }

    @Test(.timeLimit(.minutes(6)))
    func aMetricsAddressInUseIsAUsageErrorNamingIt() async throws {
        try await SinchHarness.scene { sinch in
            let sandbox = try await CLISandbox.make(sinch: sinch)
            try await sandbox.withDaemon { first in
                let address = first.url.replacingOccurrences(of: "http://", with: "")
                let second = try await sandbox.cli.run(["daemon", "--metrics", address])
                #expect(second.status == 64)
                #expect(second.stderr.contains("cannot serve --metrics at \(address)"), "\(second.stderr)")
            }
        }
    }

    /// A daemon's CPU seconds so far, from /proc.
    func cpuSeconds(_ process: Process) throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8)
        let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
        let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    @Test(.timeLimit(.minutes(6)), arguments: TestBackend.all)
    func aDueTokenHeldByAnotherProcessDoesNotSpinTheDaemon(_ backend: TestBackend) async throws {
        try await SinchHarness.scene { sinch in
            let sandbox = try await CLISandbox.make(sinch: sinch, backend: backend)
            let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
            let id = try await sandbox.add(sinch.fake.issueToken(), "--expires-at", expires)
            // Another process's lease, as a cron run in the middle of its batch would hold.
            let until = Int(Date().timeIntervalSince1970) + 300
            try await sandbox.underTheSeam(
                "UPDATE tokens SET lease_owner = 'other:1:00000000', lease_until = \(until) WHERE id = '\(id)'"
            )
            try await sandbox.withDaemon { daemon in
                let before = try cpuSeconds(daemon.process)
                try await Task.sleep(for: .seconds(3))
                let used = try cpuSeconds(daemon.process) - before
                // A loop re-checking the held token without sleeping burns a whole core: ~3 s here.
                #expect(used < 1, "the daemon used \(used) CPU s in 3 s while the due token was held elsewhere")
                #expect(sinch.fake.stats().count(.longLivedAccessToken) == 0, "a held token is not ours to refresh")
            }
        }
    }

    @Test(.timeLimit(.minutes(6)))
    func aDatabaseLockedPastItsTimeoutFailsAPassNotTheDaemon() async throws {
        try await SinchHarness.scene { sinch in
            // The token comes due 15 s after it is added (renew-before 1d, no jitter): time for the
            // daemon to start (it opens the database for writing) before the lock is taken, even
            // on a machine busy with the rest of the suite (8 s was not always enough).
            var sandbox = try await CLISandbox.make(
                sinch: sinch,
                environment: ["TOKENKEEPER_RENEW_BEFORE": "1d", "TOKENKEEPER_JITTER": "0s"]
            )
            // This test races real time: its runs never wait behind other tests' runs.
            sandbox.cli.queued = false
            let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400 + 15))
            let id = try await sandbox.add(sinch.fake.issueToken(), "--expires-at", expires)
            let daemon = try await sandbox.withDaemon { daemon in
                // Another writer holds the database for longer than the 5 s busy timeout.
                let holder = try SQLiteConnectionHolder(database: sandbox.databasePath, sql: "BEGIN IMMEDIATE;")
                let transport = try sinch.transport()
                var unhealthy = (status: 0, body: "")
                try? await waitUntil("/healthz to answer 503", within: .seconds(30)) {
                    unhealthy = try await get(daemon.url + "/healthz", with: transport)
                    return unhealthy.status == 503
                }
                #expect(unhealthy.status == 503)
                #expect(unhealthy.body.contains("the last refresh pass failed"), "\(unhealthy.body)")
                #expect(daemon.process.isRunning, "a locked database must not stop the daemon")

                holder.close()
                var refreshed = false
                try? await waitUntil("the token refreshed once the lock is gone", within: .seconds(40)) {
                    let events = try CLIJSON.parseLines(try await sandbox.succeed("audit", "--json").stdout)
                    refreshed = events.contains { $0["event"]?.string == "refreshed" && $0["token"]?.string == id }
                    return refreshed
                }
                #expect(refreshed, "the next pass refreshes the token once the lock is gone")
                #expect(try await get(daemon.url + "/healthz", with: transport).status == 200)
            }
            #expect(daemon.process.terminationStatus == 0)
        }
    }
}
