import FakeSinch
import Foundation
import Testing
import TokenKeeperTesting

/// Several processes on one database: leases keep them off each other's tokens, on either store.
@Suite struct SharedDatabaseCLITests {
    @Test(.timeLimit(.minutes(3)), arguments: TestBackend.all)
    func threeDaemonsAndTwoCronRunsExchangeEachTokenExactlyOnce(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await CLISandbox.make(
                sinch: sinch,
                environment: [
                    "TOKENKEEPER_RATE": "1000"
                ],
                backend: backend
            )
            sinch.fake.inject(FakeSinchFaultRule(.latency(.milliseconds(20)), endpoint: .longLivedAccessToken))
            let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
            let tokens = (0..<60).map { _ in sinch.fake.issueToken() }
            for token in tokens { _ = try await sandbox.add(token, "--expires-at", expires) }

            let daemons = try (0..<3).map { _ in try sandbox.spawn(["daemon"]) }
            let processes = try daemons + [sandbox.spawn(["run-once"]), sandbox.spawn(["run-once"])]
            defer { for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) } }

            try await waitUntil("every token exchanged", within: .seconds(60)) {
                sinch.fake.stats().count(.longLivedAccessToken, status: 201) >= tokens.count
            }
            for process in processes[daemons.count...] {
                try #require(try await process.exited(), "a run-once did not end")
            }
            for daemon in daemons { kill(daemon.processIdentifier, SIGTERM) }
            for daemon in daemons { try #require(try await daemon.exited(), "a daemon did not stop on SIGTERM") }

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
