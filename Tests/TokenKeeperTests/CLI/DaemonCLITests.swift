import FakeSinch
import Foundation
import Testing
import TokenKeeperTesting

/// The daemon as an operator runs it: a real process, a real SQLite file, FakeSinch over HTTP,
/// lifetimes short enough to watch several refresh cycles.
@Suite struct DaemonCLITests {
    @Test(.timeLimit(.minutes(6)))
    func keepsFiftyTokensAliveForSeveralLifetimesAndStopsCleanlyOnSIGTERM() async throws {
        // A 15 s lifetime refreshed 6 s before expiry: a cycle every ~9 s. Shorter ones (10 s and
        // 12 s, 5 s and 6 s before expiry) pass alone in 30 s but failed in the full suite: the
        // daemon's first pass came after every token had died, the machine busy with the rest.
        let lifetime = 15
        let configuration = FakeSinchConfiguration(tokenLifetime: .seconds(lifetime))
        try await SinchHarness.with(configuration) { sinch in
            var sandbox = try await CLISandbox.make(
                sinch: sinch,
                environment: [
                    "TOKENKEEPER_LIFETIME": "\(lifetime)s",
                    "TOKENKEEPER_RENEW_BEFORE": "6s",
                    "TOKENKEEPER_RATE": "1000",
                    "TOKENKEEPER_CONCURRENCY": "8",
                ]
            )
            // One import, not fifty `add` runs: on a loaded machine those took longer than a
            // lifetime, and the first tokens died before the daemon started.
            // This test races real time: its runs never wait behind other tests' runs.
            sandbox.cli.queued = false
            // The first tokens live longer at FakeSinch than tokenkeeper assumes (a lifetime from
            // the import): on a busy machine the import may start seconds after they were issued.
            // Every token a refresh returns lives `lifetime` at both.
            let lines = (0..<50).map { _ in
                #"{"project":"p1","token":"\#(sinch.fake.issueToken(lifetime: .seconds(5 * lifetime)))"}"#
            }
            // The daemon starts the moment the import ends, in the same shell: in the full suite
            // this process may not run again for many seconds, and the tokens would die waiting.
            let file = sandbox.directory.file("tokens.jsonl")
            try lines.joined(separator: "\n").appending("\n").write(toFile: file, atomically: true, encoding: .utf8)
            let log = sandbox.directory.file("daemon.log")
            let daemon = try sandbox.spawn(["daemon"], stderrFile: log, importing: file)
            defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
            var ids: [String] = []
            try await waitUntil("the import to land") {
                ids = try await sandbox.listJSON().compactMap { $0["id"]?.string }
                return ids.count == 50 || !daemon.isRunning
            }
            try #require(
                ids.count == 50,
                "the import failed: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")"
            )

            // Three lifetimes: a token that missed one cycle would be dead by the end.
            let started = Date()
            let until = started.addingTimeInterval(Double(3 * lifetime))
            var refreshed: [String: Int] = [:]
            var deadSeen: [String] = []
            while Date() < until || !ids.allSatisfy({ (refreshed[$0] ?? 0) >= 4 }) {
                guard Date() < started.addingTimeInterval(Double(5 * lifetime)) else { break }
                try await Task.sleep(for: .seconds(1))
                let lines = try CLIJSON.parseLines(
                    try await sandbox.succeed("audit", "--event", "refreshed", "--json").stdout
                )
                refreshed = Dictionary(grouping: lines.compactMap { $0["token"]?.string }, by: { $0 }).mapValues(
                    \.count
                )
                for token in try await sandbox.listJSON() {
                    let expires = token["expires_at"]?.string.flatMap(CLITime.parse) ?? .distantPast
                    if token["state"]?.string != "active" || expires < Date() {
                        deadSeen.append(token["id"]?.string ?? "?")
                    }
                }
            }
            kill(daemon.processIdentifier, SIGTERM)
            #expect(try await daemon.exited(within: .seconds(30)), "the daemon did not stop on SIGTERM")
            #expect(daemon.terminationStatus == 0)
            // Every record opens under the key and holds a token FakeSinch accepts: read in
            // process at once, since with the daemon stopped the last ones live 15 s more, and 50
            // `get` runs in a busy suite took longer than that (two were seen dead in them).
            #expect(try sandbox.expectEveryTokenLive(at: sinch.fake) == ids.count)
            // Read again once it stopped: a refresh may have committed after the last look.
            let final = try CLIJSON.parseLines(
                try await sandbox.succeed("audit", "--event", "refreshed", "--json").stdout
            )
            refreshed = Dictionary(grouping: final.compactMap { $0["token"]?.string }, by: { $0 }).mapValues(\.count)
            #expect(
                deadSeen.isEmpty,
                "\(Set(deadSeen).count) tokens seen expired or not active; the daemon's log ends: \(String(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").suffix(1_500)))"
            )
            for id in ids { #expect((refreshed[id] ?? 0) >= 4, "\(id) refreshed \(refreshed[id] ?? 0) times") }
            // Each refresh reached Sinch once: FakeSinch's exchanges equal the audited refreshes.
            #expect(
                sinch.fake.stats().exchangesPerLineage.values.reduce(0, +) == refreshed.values.reduce(0, +),
                "a token was exchanged without its refresh being recorded, or twice"
            )
            #expect(try await sandbox.run("audit", "verify").status == 0)
            let logged = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect(!logged.contains("EAAG"))
        }
    }

    /// A sandbox holding `count` due tokens (they expire in a day, well inside renew-before).
    func dueSandbox(_ sinch: SinchHarness, count: Int) async throws -> (CLISandbox, [String]) {
        let sandbox = try await CLISandbox.make(
            sinch: sinch,
            environment: ["TOKENKEEPER_RATE": "1000", "TOKENKEEPER_CONCURRENCY": "4"]
        )
        let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
        var ids: [String] = []
        for _ in 0..<count { ids.append(try await sandbox.add(sinch.fake.issueToken(), "--expires-at", expires)) }
        return (sandbox, ids)
    }

    /// Provisioning calls FakeSinch has begun (answered or not).
    func begun(_ sinch: SinchHarness) -> Int { sinch.fake.stats().requestsPerSecond.values.reduce(0, +) }

    func heldLeases(_ sandbox: CLISandbox) async throws -> String {
        try await sandbox.sqlite("SELECT COUNT(*) FROM tokens WHERE lease_owner IS NOT NULL;")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test(.timeLimit(.minutes(6)))
    func sigtermDuringABatchLetsRefreshesInFlightCommitAndClaimsNothingMore() async throws {
        try await SinchHarness.scene { sinch in
            let (sandbox, ids) = try await dueSandbox(sinch, count: 12)
            sinch.fake.inject(FakeSinchFaultRule(.latency(.seconds(2)), endpoint: .longLivedAccessToken))
            let daemon = try sandbox.spawn(["daemon"])
            defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
            try await waitUntil("four calls begun at FakeSinch", within: .seconds(30)) { begun(sinch) >= 4 }

            try await daemon.terminateGracefully(within: .seconds(20))
            #expect(!daemon.isRunning)
            #expect(daemon.terminationStatus == 0)
            let inFlight = begun(sinch)
            let committed = try CLIJSON.parseLines(
                try await sandbox.succeed("audit", "--event", "refreshed", "--json").stdout
            )
            #expect(committed.count == inFlight, "every refresh in flight at SIGTERM commits")
            #expect(inFlight < ids.count, "nothing new is claimed after SIGTERM")
            await #expect(try heldLeases(sandbox) == "0")

            // The rest is free for the next run at once: no lease was left behind.
            sinch.fake.clearFaults()
            let rest = try await sandbox.cli.run(["run-once", "--json"])
            #expect(try CLIJSON.parse(rest.stdout)["refreshed"] == .integer(ids.count - inFlight))
            for id in ids {
                let value = try await sandbox.succeed("get", id).stdout.trimmingCharacters(in: .newlines)
                #expect(sinch.fake.isValid(value))
            }
            #expect(try await sandbox.run("audit", "verify").status == 0)
        }
    }

    @Test(.timeLimit(.minutes(6)))
    func refreshesStillHangingAfterTheGracePeriodAreCancelledAndReleased() async throws {
        try await SinchHarness.scene { sinch in
            let (sandbox, ids) = try await dueSandbox(sinch, count: 6)
            sinch.fake.inject(FakeSinchFaultRule(.hang, endpoint: .longLivedAccessToken))
            let daemon = try sandbox.spawn(["daemon", "--grace", "1s"])
            defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
            try await waitUntil("four calls begun at FakeSinch", within: .seconds(30)) { begun(sinch) >= 4 }

            let took = try await daemon.terminateGracefully(within: .seconds(20))
            #expect(!daemon.isRunning)
            #expect(daemon.terminationStatus == 0)
            #expect(took < .seconds(15), "the grace period bounds the stop (took \(took))")
            // Cancelled, not failed: nothing is charged or recorded, and every lease is let go.
            let events = try CLIJSON.parseLines(try await sandbox.succeed("audit", "--json").stdout)
            #expect(events.allSatisfy { $0["event"]?.string == "added" })
            await #expect(try heldLeases(sandbox) == "0")
            for token in try await sandbox.listJSON() { #expect(token["failures"] == .integer(0)) }

            sinch.fake.clearFaults()
            let next = try await sandbox.cli.run(["run-once", "--json"])
            #expect(try CLIJSON.parse(next.stdout)["refreshed"] == .integer(ids.count))
        }
    }
}
