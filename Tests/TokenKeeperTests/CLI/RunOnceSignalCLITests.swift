import FakeSinch
import Foundation
import Testing
import TokenKeeperTesting

/// `run-once` stopped by `systemctl stop`, `timeout` or a cron supervisor (SIGTERM): it claims
/// nothing more, the refreshes in flight commit, the rest is released, and it says what it did.
@Suite struct RunOnceSignalCLITests {
    @Test func aSIGTERMMidRunCommitsWhatWasExchangedAndReleasesTheRest() async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await CLISandbox.make(sinch: sinch, environment: ["TOKENKEEPER_CONCURRENCY": "2"])
            let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
            var tokens: [String] = []
            for _ in 0..<12 {
                let token = sinch.fake.issueToken()
                tokens.append(token)
                _ = try await sandbox.add(token, "--expires-at", expires)
            }
            sinch.fake.inject(FakeSinchFaultRule(.latency(.milliseconds(400)), endpoint: .longLivedAccessToken))

            let output = sandbox.directory.file("run-once.out")
            _ = FileManager.default.createFile(atPath: output, contents: nil)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: sandbox.cli.executable)
            process.arguments = ["run-once", "--json"]
            process.environment = sandbox.cli.environment
            process.standardOutput = FileHandle(forWritingAtPath: output)
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Stopped while exchanges are in flight: the first has reached the fake.
            try await waitUntil("an exchange under way") {
                sinch.fake.stats().count(.longLivedAccessToken) >= 1
            }
            kill(process.processIdentifier, SIGTERM)
            #expect(try await process.exited(within: .seconds(60)), "run-once did not stop")

            #expect(process.terminationStatus == 143)
            let text = try String(contentsOfFile: output, encoding: .utf8)
            let summary = try CLIJSON.parse(text)
            guard case .integer(let refreshed) = summary["refreshed"] else {
                Issue.record("no summary: \(text)")
                return
            }
            // Every exchange Sinch answered is stored: as many refreshed rows as exchanges made.
            let exchanged = sinch.fake.stats().exchangesPerLineage.values.reduce(0, +)
            #expect(refreshed >= 1 && refreshed < tokens.count, "\(text)")
            #expect(refreshed == exchanged, "\(exchanged) exchanges, \(refreshed) stored")
            #expect(try await sandbox.auditJSON("--event", "refreshed").count == exchanged)
            await #expect(try sandbox.sqlite("SELECT COUNT(*) FROM tokens WHERE lease_owner IS NOT NULL") == "0\n")

            // Nothing was left held: the next run finds every token not yet refreshed due.
            sinch.fake.clearFaults()
            let next = try await sandbox.succeed("run-once", "--json")
            #expect(try CLIJSON.parse(next.stdout)["refreshed"] == .integer(tokens.count - refreshed))
            try sinch.expectEachExchangedOnce(tokens)
        }
    }
}
