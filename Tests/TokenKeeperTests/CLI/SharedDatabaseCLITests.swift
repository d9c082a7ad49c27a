import FakeSinch
import Foundation
import Testing
import TokenKeeperTesting

/// Several processes on one database: leases keep them off each other's tokens.
@Suite struct SharedDatabaseCLITests {
    @Test(.timeLimit(.minutes(3)))
    func aDaemonAndTwoCronRunsExchangeEachTokenExactlyOnce() async throws {
        try await SinchHarness.with { sinch in
            var sandbox = try CLISandbox()
            sandbox.cli.environment.merge(
                [
                    "SINCH_PROVISIONING_URL": sinch.fake.baseURL,
                    "SINCH_AUTH_URL": sinch.fake.authURL,
                    "SINCH_KEY_ID": sinch.configuration.keyID,
                    "SINCH_KEY_SECRET": sinch.configuration.keySecret,
                    "TOKENKEEPER_RATE": "1000",
                ]
            ) { $1 }
            sinch.fake.inject(FakeSinchFaultRule(.latency(.milliseconds(20)), endpoint: .longLivedAccessToken))
            let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
            let tokens = (0..<40).map { _ in sinch.fake.issueToken() }
            for token in tokens { _ = try await sandbox.addAsync(token, "--expires-at", expires) }

            func start(_ arguments: [String]) throws -> Process {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: sandbox.cli.executable)
                process.arguments = arguments
                process.environment = sandbox.cli.environment
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                return process
            }
            let processes = try [start(["daemon"]), start(["run-once"]), start(["run-once"])]
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
            #expect(try await sandbox.runAsync("audit", "verify").status == 0)
            let refreshed = try CLIJSON.parseLines(sandbox.succeed("audit", "--event", "refreshed", "--json").stdout)
            #expect(refreshed.count == tokens.count)
        }
    }
}
