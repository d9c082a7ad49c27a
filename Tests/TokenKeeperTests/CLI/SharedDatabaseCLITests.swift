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

            try await waitUntil("every token exchanged", within: .seconds(60)) {
                sinch.fake.stats().count(.longLivedAccessToken, status: 201) >= tokens.count
            }
            for process in processes[1...] { try #require(try await process.exited(), "a run-once did not end") }
            kill(processes[0].processIdentifier, SIGTERM)
            try #require(try await processes[0].exited(), "the daemon did not stop on SIGTERM")

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
