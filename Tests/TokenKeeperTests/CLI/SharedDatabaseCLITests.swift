import FakeSinch
import Foundation
import Testing
import TokenKeeperTesting

/// Several processes on one database: leases keep them off each other's tokens, on either store.
@Suite struct SharedDatabaseCLITests {
    @Test(.timeLimit(.minutes(6)), arguments: TestBackend.all)
    func threeDaemonsAndTwoCronRunsExchangeEachTokenExactlyOnce(_ backend: TestBackend) async throws {
        try await SinchHarness.scene { sinch in
            let sandbox = try await CLISandbox.make(
                sinch: sinch,
                environment: [
                    "TOKENKEEPER_RATE": "1000"
                ],
                backend: backend
            )
            sinch.fake.inject(FakeSinchFaultRule(.latency(.milliseconds(20)), endpoint: .longLivedAccessToken))
            let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
            let tokens = (0..<40).map { _ in sinch.fake.issueToken() }
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

            try sinch.expectEachExchangedOnce(tokens)
            #expect(processes.allSatisfy { $0.terminationStatus == 0 })
            #expect(try await sandbox.run("audit", "verify").status == 0)
            let refreshed = try await CLIJSON.parseLines(
                sandbox.succeed("audit", "--event", "refreshed", "--json").stdout
            )
            #expect(refreshed.count == tokens.count)
        }
    }
}

/// `limits.rate` is what Sinch allows a project: it holds for every process on the store together.
@Suite struct FleetRateCLITests {
    @Test(.timeLimit(.minutes(6)), arguments: TestBackend.all)
    func fiveProcessesOnOneProjectNeverPassTheRateInAnySecond(_ backend: TestBackend) async throws {
        try await SinchHarness.scene { sinch in
            let sandbox = try await CLISandbox.make(
                sinch: sinch,
                environment: ["TOKENKEEPER_RATE": "5", "TOKENKEEPER_CONCURRENCY": "4"],
                backend: backend
            )
            let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
            let tokens = (0..<20).map { _ in sinch.fake.issueToken() }
            for token in tokens { _ = try await sandbox.add(token, project: "p1", "--expires-at", expires) }

            // One daemon and four cron runs: alone, each would send 5 a second (25 together).
            let daemon = try sandbox.spawn(["daemon"])
            let runs = try (0..<4).map { _ in try sandbox.spawn(["run-once"]) }
            defer {
                for process in [daemon] + runs where process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
            try await waitUntil("every token exchanged", within: .seconds(90)) {
                sinch.fake.stats().count(.longLivedAccessToken, status: 201) >= tokens.count
            }
            for run in runs { try #require(try await run.exited(), "a run-once did not end") }
            kill(daemon.processIdentifier, SIGTERM)
            try #require(try await daemon.exited(), "the daemon did not stop on SIGTERM")

            let perSecond = sinch.fake.stats().requestsPerProjectSecond["p1"] ?? [:]
            #expect(perSecond.values.reduce(0, +) == tokens.count)
            #expect(
                perSecond.values.max() ?? 0 <= 5,
                "requests per second at Sinch: \(perSecond.sorted { $0.key < $1.key })"
            )
            // And in any one-second stretch, not only calendar seconds: five processes never
            // share a place of a window.
            let peak = sinch.fake.stats().peakRequestsInAnySecond(project: "p1")
            #expect(peak <= 5, "\(peak) requests within one second at Sinch")
            #expect(([daemon] + runs).allSatisfy { $0.terminationStatus == 0 })
            #expect(try await sandbox.run("audit", "verify").status == 0)
        }
    }
}
