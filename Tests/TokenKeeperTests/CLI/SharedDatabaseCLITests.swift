import FakeSinch
import Foundation
import Testing
import TokenKeeperTesting

/// Several processes on one database: leases keep them off each other's tokens.
@Suite struct SharedDatabaseCLITests {
    @Test(.timeLimit(.minutes(3)))
    func aDaemonAndTwoCronRunsExchangeEachTokenExactlyOnce() async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await CLISandbox.make(
                sinch: sinch,
                environment: [
                    "TOKENKEEPER_RATE": "1000"
                ]
            )
            sinch.fake.inject(FakeSinchFaultRule(.latency(.milliseconds(20)), endpoint: .longLivedAccessToken))
            let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
            let tokens = (0..<40).map { _ in sinch.fake.issueToken() }
            for token in tokens { _ = try await sandbox.add(token, "--expires-at", expires) }

            let processes = try [sandbox.spawn(["daemon"]), sandbox.spawn(["run-once"]), sandbox.spawn(["run-once"])]
            defer { for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) } }

            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline,
                sinch.fake.stats().count(.longLivedAccessToken, status: 201) < tokens.count
            {
                try await Task.sleep(for: .milliseconds(50))
            }
            while processes[1].isRunning || processes[2].isRunning { try await Task.sleep(for: .milliseconds(20)) }
            kill(processes[0].processIdentifier, SIGTERM)
            while processes[0].isRunning { try await Task.sleep(for: .milliseconds(20)) }

            let exchanges = sinch.fake.stats().exchangesPerLineage
            for token in tokens {
                let lineage = try #require(sinch.fake.lineage(of: token))
                #expect(exchanges[lineage] == 1, "lineage \(lineage) exchanged \(exchanges[lineage] ?? 0) times")
            }
            #expect(sinch.fake.stats().count(.longLivedAccessToken) == tokens.count)
            #expect(processes.allSatisfy { $0.terminationStatus == 0 })
            #expect(try await sandbox.run("audit", "verify").status == 0)
            let refreshed = try await CLIJSON.parseLines(
                sandbox.succeed("audit", "--event", "refreshed", "--json").stdout
            )
            #expect(refreshed.count == tokens.count)
        }
    }
}
