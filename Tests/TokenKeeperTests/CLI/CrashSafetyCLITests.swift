import FakeSinch
import Foundation
import Testing
import TokenKeeper
import TokenKeeperTesting

/// `run-once` killed with SIGKILL at random moments of a batch loses nothing: after each kill
/// every token still decrypts, is valid at FakeSinch, has not moved backwards, and the audit
/// chain verifies.
@Suite struct CrashSafetyCLITests {
    @Test(.timeLimit(.minutes(6)))
    func sigkillMidBatchLosesNothing() async throws {
        try await SinchHarness.scene { sinch in
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
            for _ in 0..<30 { ids.append(try await sandbox.add(sinch.fake.issueToken(), "--expires-at", expires)) }
            var lastExpiry: [String: String] = [:]
            var generator = SystemRandomNumberGenerator()

            for round in 0..<20 {
                let calls = sinch.fake.stats().requestsPerSecond.values.reduce(0, +)
                let process = try sandbox.spawn(["run-once"])
                // Kill once the run reached Sinch (however slowly it started), at a random moment
                // of its batch: before, during or after exchanges and commits.
                try await waitUntil("run-once calling Sinch or ending") {
                    sinch.fake.stats().requestsPerSecond.values.reduce(0, +) > calls || !process.isRunning
                }
                // The first run is killed only once it has committed a refresh: a run killed
                // before any commit holds every token's lease for its lifetime, and on a busy CI
                // machine all twenty rounds once ended with nothing refreshed (a vacuous test).
                if round == 0 {
                    try await waitUntil("the first refresh committed, or the run ended") {
                        try await !sandbox.auditJSON("--event", "refreshed").isEmpty || !process.isRunning
                    }
                }
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...300, using: &generator)))
                kill(process.processIdentifier, SIGKILL)
                try #require(try await process.exited(), "round \(round): run-once outlived SIGKILL")

                #expect(try await sandbox.run("audit", "verify").status == 0, "round \(round): audit chain broken")
                for token in try await sandbox.listJSON() {
                    let id = try #require(token["id"]?.string)
                    let expiry = try #require(token["expires_at"]?.string)
                    // RFC 3339 UTC strings of one format compare in time order.
                    if let before = lastExpiry[id] { #expect(expiry >= before, "round \(round): \(id) moved back") }
                    lastExpiry[id] = expiry
                    #expect(token["state"]?.string == "active")
                }
                // Every record opens under the key and holds a live token: read in process (600 `get`
                // runs took most of this test's time), with the key file as `get` reads it.
                #expect(try sandbox.expectEveryTokenLive(at: sinch.fake, "round \(round): ") == ids.count)
            }
            #expect(try await sandbox.listJSON().count == ids.count)
            // Not vacuous: the killed runs did commit refreshes between the kills.
            let refreshed = try await CLIJSON.parseLines(
                sandbox.succeed("audit", "--event", "refreshed", "--json").stdout
            )
            #expect(!refreshed.isEmpty)
        }
    }
}
