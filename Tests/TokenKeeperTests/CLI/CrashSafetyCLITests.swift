import FakeSinch
import Foundation
import Testing
import TokenKeeperTesting

/// `run-once` killed with SIGKILL at random moments of a batch loses nothing: after each kill
/// every token still decrypts, is valid at FakeSinch, has not moved backwards, and the audit
/// chain verifies.
@Suite struct CrashSafetyCLITests {
    @Test(.timeLimit(.minutes(4)))
    func sigkillMidBatchLosesNothing() async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await CLISandbox.make(
                sinch: sinch,
                environment: [
                    "TOKENKEEPER_RATE": "1000",
                    "TOKENKEEPER_CONCURRENCY": "4",
                ]
            )
            // Slow answers stretch each batch, so kills land before, during and after exchanges.
            sinch.fake.inject(FakeSinchFaultRule(.latency(.milliseconds(40)), endpoint: .longLivedAccessToken))
            let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
            var ids: [String] = []
            for _ in 0..<30 { ids.append(try await sandbox.addAsync(sinch.fake.issueToken(), "--expires-at", expires)) }
            var lastExpiry: [String: String] = [:]
            var generator = SystemRandomNumberGenerator()

            for round in 0..<20 {
                let process = try sandbox.spawn(["run-once"])
                try await Task.sleep(for: .milliseconds(Int.random(in: 10...400, using: &generator)))
                kill(process.processIdentifier, SIGKILL)
                while process.isRunning { try await Task.sleep(for: .milliseconds(5)) }

                #expect(try await sandbox.runAsync("audit", "verify").status == 0, "round \(round): audit chain broken")
                for token in try await sandbox.listJSONAsync() {
                    let id = try #require(token["id"]?.string)
                    let expiry = try #require(token["expires_at"]?.string)
                    // RFC 3339 UTC strings of one format compare in time order.
                    if let before = lastExpiry[id] { #expect(expiry >= before, "round \(round): \(id) moved back") }
                    lastExpiry[id] = expiry
                    #expect(token["state"]?.string == "active")
                }
                for id in ids {
                    let get = try await sandbox.runAsync("get", id)
                    #expect(get.status == 0, "round \(round): \(id) does not open: \(get.stderr)")
                    let value = get.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                    #expect(sinch.fake.isValid(value), "round \(round): \(id) holds a dead token")
                }
            }
            #expect(try await sandbox.listJSONAsync().count == ids.count)
            // Not vacuous: the killed runs did commit refreshes between the kills.
            let refreshed = try CLIJSON.parseLines(sandbox.succeed("audit", "--event", "refreshed", "--json").stdout)
            #expect(!refreshed.isEmpty)
        }
    }
}
