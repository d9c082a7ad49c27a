import FakeSinch
import Foundation
import Testing
import TokenKeeperTesting

/// The daemon as an operator runs it: a real process, a real SQLite file, FakeSinch over HTTP,
/// lifetimes short enough to watch several refresh cycles.
@Suite struct DaemonCLITests {
    @Test(.timeLimit(.minutes(3)))
    func keepsShortLivedTokensAliveAndStopsCleanlyOnSIGTERM() async throws {
        // 24 s lifetime, refreshed 8 s before expiry: a cycle every ~16 s.
        let lifetime = 24
        let configuration = FakeSinchConfiguration(tokenLifetime: .seconds(lifetime))
        try await SinchHarness.with(configuration) { sinch in
            let sandbox = try await CLISandbox.make(
                sinch: sinch,
                environment: [
                    "TOKENKEEPER_LIFETIME": "\(lifetime)s",
                    "TOKENKEEPER_RENEW_BEFORE": "8s",
                    "TOKENKEEPER_RATE": "1000",
                    "TOKENKEEPER_CONCURRENCY": "8",
                ]
            )
            var ids: [String] = []
            for _ in 0..<20 {
                ids.append(try await sandbox.addAsync(sinch.fake.issueToken(lifetime: .seconds(lifetime))))
            }

            let log = sandbox.directory.file("daemon.log")
            let daemon = try sandbox.spawn(["daemon"], stderrFile: log)
            defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }

            // Watch for two full cycles (every token refreshed twice), well past one lifetime.
            let deadline = ContinuousClock.now + .seconds(120)
            var refreshed: [String: Int] = [:]
            while ContinuousClock.now < deadline {
                try await Task.sleep(for: .seconds(1))
                let lines = try CLIJSON.parseLines(sandbox.succeed("audit", "--event", "refreshed", "--json").stdout)
                refreshed = Dictionary(grouping: lines.compactMap { $0["token"]?.string }, by: { $0 }).mapValues(
                    \.count
                )
                if ids.allSatisfy({ (refreshed[$0] ?? 0) >= 2 }) { break }
            }
            kill(daemon.processIdentifier, SIGTERM)
            let stopBy = ContinuousClock.now + .seconds(30)
            while daemon.isRunning, ContinuousClock.now < stopBy { try await Task.sleep(for: .milliseconds(50)) }

            #expect(!daemon.isRunning)
            #expect(daemon.terminationStatus == 0)
            for id in ids { #expect((refreshed[id] ?? 0) >= 2, "\(id) refreshed \(refreshed[id] ?? 0) times") }
            let tokens = try await sandbox.listJSONAsync()
            #expect(tokens.allSatisfy { $0["state"]?.string == "active" })
            for id in ids {
                let value = try await sandbox.succeedAsync("get", id).stdout.trimmingCharacters(
                    in: .whitespacesAndNewlines
                )
                #expect(sinch.fake.isValid(value), "\(id) holds a token FakeSinch no longer accepts")
            }
            #expect(try await sandbox.runAsync("audit", "verify").status == 0)
            let logged = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect(!logged.contains("EAAG"))
        }
    }
}
