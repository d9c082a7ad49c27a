import FakeSinch
import Foundation
import SinchProvisioning
import Testing
import TokenKeeperTesting

/// The repository's root folder, which holds Tests/TokenKeeperTests/CLI/ (this file's folder).
private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// The shipped alert rules (scripts/monitoring/tokenkeeper-alerts.yml) loaded into a real
/// Prometheus (Debian's `/usr/bin/prometheus`) that scrapes a real daemon every second, as an
/// operator's would under the job name the rules expect, `tokenkeeper`.
@Suite struct PrometheusAlertsCLITests {
    static let required = ProcessInfo.processInfo.environment["TOKENKEEPER_TEST_REQUIRE_POSTGRES"] == "1"

    /// A full run (scripts/test, which installs Prometheus) must have it: fail, never skip.
    @Test(
        .timeLimit(.minutes(8)),
        .enabled(
            if: RunningPrometheus.installed || required,
            "\(RunningPrometheus.binary) is not installed (Debian: apt-get install prometheus)"
        )
    )
    func aTokenMetaRefusesFiresNeedsReauthWhileAHealthyStoreFiresNothing() async throws {
        try #require(
            RunningPrometheus.installed,
            "TOKENKEEPER_TEST_REQUIRE_POSTGRES=1 (a full run) but \(RunningPrometheus.binary) is missing: apt-get install prometheus (scripts/bootstrap does)"
        )
        try await SinchHarness.scene { sinch in
            let sandbox = try await CLISandbox.make(sinch: sinch, environment: ["TOKENKEEPER_RATE": "1000"])
            let later = ISO8601DateFormatter().string(from: Date().addingTimeInterval(50 * 86_400))
            try await sandbox.add(sinch.fake.issueToken(), "--expires-at", later)
            let daemon = try await sandbox.startDaemon()
            defer { if daemon.process.isRunning { kill(daemon.process.processIdentifier, SIGKILL) } }
            let transport = try sinch.transport()
            let prometheus = try await RunningPrometheus.start(
                scraping: daemon.url.replacingOccurrences(of: "http://", with: ""),
                rules: repository + "/scripts/monitoring/tokenkeeper-alerts.yml",
                transport: transport
            )
            defer { prometheus.stop() }

            // Healthy: the one active token scraped under job tokenkeeper, then the rules evaluated
            // over it, and nothing fires (TokenKeeperTokenNeedsReauth not even pending).
            try await waitUntil("Prometheus to scrape the daemon's active token", within: .seconds(120)) {
                try await prometheus.query(#"max(tokenkeeper_tokens{job="tokenkeeper",state="active"})"#) == ["1"]
            }
            #expect(try await prometheus.query(#"up{job="tokenkeeper"}"#) == ["1"])
            #expect(try await prometheus.query(#"max(tokenkeeper_tokens{state="needs_reauth"})"#) == ["0"])
            try await prometheus.waitForEvaluations(2)
            let healthy = try await prometheus.alerts()
            try #require(!healthy.contains { $0.name == "TokenKeeperTokenNeedsReauth" }, "a healthy store: \(healthy)")
            #expect(healthy.filter { $0.state == "firing" }.isEmpty, "a healthy store fires: \(healthy)")

            // Every query of the shipped dashboard is PromQL this Prometheus accepts.
            for expression in try Self.dashboardExpressions() {
                let problem = try await prometheus.queryError(
                    expression.replacingOccurrences(of: "$__rate_interval", with: "1m")
                        .replacingOccurrences(of: "$job", with: "tokenkeeper")
                )
                #expect(problem == nil, "dashboard query \(expression): \(problem ?? "")")
            }

            // A token Meta refuses: the daemon finds it due within its 60 s timer cap (SQLite
            // wakes no daemon), Sinch answers invalid_facebook_token, it goes needs_reauth, and
            // the next evaluation after the scrape fires the alert (the rule has no `for`).
            let doomed = sinch.fake.issueToken()
            sinch.fake.revoke(token: doomed)
            let soon = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
            let id = try await sandbox.add(doomed, "--expires-at", soon)
            var alerts: [RunningPrometheus.Alert] = []
            do {
                try await waitUntil("TokenKeeperTokenNeedsReauth to fire", within: .seconds(240)) {
                    alerts = try await prometheus.alerts()
                    return alerts.contains { $0.name == "TokenKeeperTokenNeedsReauth" && $0.state == "firing" }
                }
            } catch let timeout as WaitTimedOut {
                let state = try? await sandbox.succeed("show", id, "--json").stdout
                Issue.record("\(timeout): alerts \(alerts); the token: \(state ?? "?"); \(prometheus.logTail())")
                return
            }
            let fired = try #require(alerts.first { $0.name == "TokenKeeperTokenNeedsReauth" })
            #expect(fired.labels["severity"] == "critical")
            #expect(fired.annotations["description"]?.hasPrefix("1 stored token(s) are in state needs_reauth") == true)
            #expect(fired.annotations["runbook"]?.contains("TokenKeeperTokenNeedsReauth") == true)
            let listed = try await sandbox.listedIDs("--state", "needs_reauth")
            #expect(listed == [id])

            try await daemon.process.terminateGracefully(within: .seconds(30))
        }
    }

    /// Every `expr` of scripts/monitoring/tokenkeeper-dashboard.json's panels.
    static func dashboardExpressions() throws -> [String] {
        let text = try String(
            contentsOfFile: repository + "/scripts/monitoring/tokenkeeper-dashboard.json",
            encoding: .utf8
        )
        let panels = try #require(try CLIJSON.parse(text)["panels"]?.array)
        return panels.flatMap { ($0["targets"]?.array ?? []).compactMap { $0["expr"]?.string } }
    }
}

/// A `prometheus` process of one test's own: its config, rule file and TSDB in a temporary
/// folder, its API on a free loopback port. ``stop()`` kills it and removes the folder; call it
/// in a `defer`.
private struct RunningPrometheus {
    static let binary = "/usr/bin/prometheus"
    static var installed: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    struct Alert: CustomStringConvertible {
        var labels: [String: String]
        var annotations: [String: String]
        var state: String
        var name: String { labels["alertname"] ?? "" }
        var description: String { "\(name) \(state) \(labels)" }
    }

    let process: Process
    let url: String
    let directory: TemporaryDirectory
    let transport: CurlTransport

    private var log: String { directory.file("prometheus.log") }

    /// Starts Prometheus scraping `target` (`HOST:PORT`) as job `tokenkeeper` and evaluating
    /// `rules`, both every second; returns once it is ready. A port taken between the pick and
    /// the bind is picked again.
    static func start(
        scraping target: String,
        rules: String,
        transport: CurlTransport
    ) async throws
        -> RunningPrometheus
    {
        var failures: [String] = []
        for _ in 0..<3 {
            let directory = TemporaryDirectory("tokenkeeper-prometheus")
            let config = directory.file("prometheus.yml")
            try Data(
                """
                global:
                  scrape_interval: 1s
                  scrape_timeout: 1s
                  evaluation_interval: 1s
                rule_files:
                  - "\(rules)"
                scrape_configs:
                  - job_name: tokenkeeper
                    static_configs:
                      - targets: ["\(target)"]

                """.utf8
            ).write(to: URL(fileURLWithPath: config))
            let address = "127.0.0.1:\(try freePort())"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = [
                "--config.file=" + config, "--storage.tsdb.path=" + directory.file("data"),
                "--web.listen-address=" + address, "--log.level=info",
            ]
            process.currentDirectoryURL = URL(fileURLWithPath: directory.path)
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            _ = FileManager.default.createFile(atPath: directory.file("prometheus.log"), contents: nil)
            process.standardError = FileHandle(forWritingAtPath: directory.file("prometheus.log"))
            try process.run()
            let prometheus = RunningPrometheus(
                process: process,
                url: "http://" + address,
                directory: directory,
                transport: transport
            )
            do {
                try await waitUntil("Prometheus to be ready on \(address)", within: .seconds(90)) {
                    guard process.isRunning else { return true }
                    return (try? await RunningDaemon.get(prometheus.url + "/-/ready", with: transport).status) == 200
                }
            } catch {
                prometheus.stop()
                throw CLITestFailure("\(error); \(prometheus.logTail())")
            }
            if process.isRunning { return prometheus }
            failures.append(prometheus.logTail())
            prometheus.stop()
        }
        throw CLITestFailure("prometheus did not start: \(failures.joined(separator: "\n"))")
    }

    /// Kills Prometheus, waits for it to end, and removes its folder.
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory.path)
    }

    /// The values of an instant query's samples, as the API prints them ("1", "0").
    func query(_ expression: String) async throws -> [String] {
        let data = try await api("query?query=" + Self.encode(expression))
        return (data["result"]?.array ?? []).compactMap { $0["value"]?.array?.last?.string }
    }

    /// The error Prometheus gives for `expression`, nil when it runs.
    func queryError(_ expression: String) async throws -> String? {
        let response = try await RunningDaemon.get(
            url + "/api/v1/query?query=" + Self.encode(expression),
            with: transport
        )
        let body = try CLIJSON.parse(response.body)
        return body["status"]?.string == "success" ? nil : body["error"]?.string ?? response.body
    }

    /// Every pending and firing alert.
    func alerts() async throws -> [Alert] {
        try (try await api("alerts")["alerts"]?.array ?? []).map { alert in
            func strings(_ key: String) -> [String: String] {
                (alert[key]?.object ?? [:]).compactMapValues(\.string)
            }
            return Alert(
                labels: strings("labels"),
                annotations: strings("annotations"),
                state: try #require(alert["state"]?.string)
            )
        }
    }

    /// Returns once the tokenkeeper group has been evaluated `count` more times. The time of an
    /// evaluation is published when it ends, so the second one seen began after this call did:
    /// it saw every sample the API showed before.
    func waitForEvaluations(_ count: Int) async throws {
        var last = try await lastEvaluation()
        for turn in 1...count {
            try await waitUntil("evaluation \(turn) of the tokenkeeper rules", within: .seconds(120)) {
                let now = try await lastEvaluation()
                defer { last = now }
                return now != nil && now != last
            }
        }
    }

    private func lastEvaluation() async throws -> String? {
        let groups = try await api("rules")["groups"]?.array ?? []
        return groups.first { $0["name"]?.string == "tokenkeeper" }?["lastEvaluation"]?.string
    }

    /// The `data` of a successful API answer.
    private func api(_ path: String) async throws -> CLIJSON {
        let response = try await RunningDaemon.get(url + "/api/v1/" + path, with: transport)
        let body = try CLIJSON.parse(response.body)
        guard response.status == 200, body["status"]?.string == "success", let data = body["data"] else {
            throw CLITestFailure("GET /api/v1/\(path): \(response.status) \(response.body)")
        }
        return data
    }

    /// The last lines Prometheus logged, for a failure's message.
    func logTail() -> String {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return "prometheus log: " + text.split(separator: "\n").suffix(15).joined(separator: "\n")
    }

    private static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
    }

    /// A port the kernel just handed out and took back: free unless another process races for it.
    private static func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try #require(bind(socket, $0, length) == 0)
                try #require(getsockname(socket, $0, &length) == 0)
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
