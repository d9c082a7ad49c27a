import FakeSinch
import Foundation
import Testing
import TokenKeeper
import TokenKeeperTesting

/// Daemons of a fleet on one PostgreSQL database: one killed, the server restarted, a token added
/// elsewhere (<doc:Architecture#The-store-seam>). Runs when the run has a server.
@Suite(.enabled(if: TestBackend.all.contains(.postgres)))
struct PostgresFleetCLITests {
    static func dayAhead() -> String { ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400)) }

    @Test(.timeLimit(.minutes(6)))
    func aDaemonKilledMidBatchLeavesItsTokensToTheOthers() async throws {
        try await SinchHarness.scene { sinch in
            let sandbox = try await CLISandbox.make(
                sinch: sinch,
                environment: ["TOKENKEEPER_RATE": "1000", "TOKENKEEPER_CONCURRENCY": "4"],
                backend: .postgres
            )
            // Slow answers: the kill lands with exchanges in flight and leases held.
            sinch.fake.inject(FakeSinchFaultRule(.latency(.milliseconds(400)), endpoint: .longLivedAccessToken))
            let tokens = (0..<24).map { _ in sinch.fake.issueToken() }
            for token in tokens { _ = try await sandbox.add(token, "--expires-at", Self.dayAhead()) }

            let victim = try sandbox.spawn(["daemon"])
            defer { if victim.isRunning { kill(victim.processIdentifier, SIGKILL) } }
            try await waitUntil("the first daemon calling Sinch") {
                sinch.fake.stats().count(.longLivedAccessToken) >= 2
            }
            kill(victim.processIdentifier, SIGKILL)
            try #require(try await victim.exited(), "the daemon outlived SIGKILL")
            let held = try await sandbox.underTheSeam("SELECT COUNT(*) FROM tokens WHERE lease_owner IS NOT NULL")
            #expect(Int(held.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 > 0, "killed holding leases")
            // Its leases lapse (300 s in real time): moved into the past under the seam.
            try await sandbox.underTheSeam(
                "UPDATE tokens SET lease_until = extract(epoch FROM now())::bigint - 1 WHERE lease_owner IS NOT NULL"
            )

            let others = try [sandbox.spawn(["daemon"]), sandbox.spawn(["daemon"])]
            defer { for process in others where process.isRunning { kill(process.processIdentifier, SIGKILL) } }
            try await waitUntil("every token refreshed", within: .seconds(90)) {
                let due = try await sandbox.underTheSeam(
                    "SELECT COUNT(*) FROM tokens WHERE last_refreshed_at IS NULL OR lease_owner IS NOT NULL"
                )
                return due == "0\n"
            }
            for process in others { kill(process.processIdentifier, SIGTERM) }
            for process in others { try #require(try await process.exited(), "a daemon did not stop on SIGTERM") }

            #expect(try await sandbox.run("audit", "verify").status == 0)
            let listed = try await sandbox.listJSON()
            #expect(listed.count == tokens.count)
            #expect(listed.allSatisfy { $0["state"]?.string == "active" })
            // Every record opens and holds a token FakeSinch accepts; each lineage was exchanged,
            // at most twice (once more when the killed daemon's answer never reached the store).
            let inventory = try sandbox.keyedInventory()
            try inventory.forEachToken(matching: .init()) { record in
                let value = try inventory.unsealed(record)
                #expect(sinch.fake.isValid(value), "\(record.id) holds a dead token")
            }
            let exchanges = sinch.fake.stats().exchangesPerLineage
            for token in tokens {
                let lineage = try #require(sinch.fake.lineage(of: token))
                #expect((1...2).contains(exchanges[lineage] ?? 0), "lineage \(lineage): \(exchanges[lineage] ?? 0)")
            }
        }
    }

    @Test(.timeLimit(.minutes(6)))
    func aTokenAddedElsewhereWakesTheDaemonBeforeItsTimer() async throws {
        try await SinchHarness.scene { sinch in
            let sandbox = try await CLISandbox.make(
                sinch: sinch,
                environment: ["TOKENKEEPER_RENEW_BEFORE": "1d", "TOKENKEEPER_JITTER": "0s"],
                backend: .postgres
            )
            let daemon = try await sandbox.startDaemon()
            defer { if daemon.process.isRunning { kill(daemon.process.processIdentifier, SIGKILL) } }
            // Nothing is due, so the daemon sleeps for its timer cap (60 s) once it listens.
            try await waitUntil("the daemon to LISTEN", within: .seconds(30)) {
                try await sandbox.underTheSeam(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                ) == "1\n"
            }

            // Another host's `add`: due 5 s from now. The daemon's last pass was before it
            // listened, so without a wake it would look again only at its 60 s timer.
            let due = Date().addingTimeInterval(5)
            let expires = ISO8601DateFormatter().string(from: due.addingTimeInterval(86_400))
            let id = try await sandbox.add(sinch.fake.issueToken(), "--expires-at", expires)
            let added = Date()
            var refreshed: CLIJSON?
            try await waitUntil("the daemon to refresh the new token", within: .seconds(50)) {
                refreshed = try await sandbox.auditJSON("--event", "refreshed").first { $0["token"]?.string == id }
                return refreshed != nil
            }

            // Timed by the daemon's own commit (audit `at`, whole seconds), not by this test's
            // polling, and from when it could first have been done: due, and added (an `add`
            // slowed by a busy machine may end after the token is due).
            let at = try #require(RFC3339.parse(refreshed?["at"]?.string ?? "")).date
            #expect(at >= due.addingTimeInterval(-1), "refreshed at \(at), before it was due at \(due)")
            let late = at.timeIntervalSince(max(due, added))
            #expect(late < 20, "refreshed \(late) s after it could be: the daemon waited for its timer")
            try await daemon.process.terminateGracefully(within: .seconds(30))
            #expect(daemon.process.terminationStatus == 0)
        }
    }

    @Test(.timeLimit(.minutes(6)))
    func aServerRestartFailsPassesNotTheDaemon() async throws {
        let server = try await PrivatePostgres.start()
        defer { server.stop() }
        try await SinchHarness.scene { sinch in
            var sandbox = CLISandbox(uninitializedWith: [:])
            sandbox.usePostgres(url: server.url, password: server.password)
            sandbox.point(at: sinch, environment: ["TOKENKEEPER_RENEW_BEFORE": "1d", "TOKENKEEPER_JITTER": "0s"])
            try await sandbox.initialize()
            let kept = try await sandbox.add(sinch.fake.issueToken(), "--expires-at", Self.dayAhead())
            let daemon = try await sandbox.startDaemon()
            defer { if daemon.process.isRunning { kill(daemon.process.processIdentifier, SIGKILL) } }
            let transport = try sinch.transport()
            try await waitUntil("the first token refreshed") {
                try await sandbox.auditJSON("--event", "refreshed").count == 1
            }
            #expect(try await daemon.health(with: transport).status == 200)

            try await server.stopServer()
            var unhealthy = (status: 0, body: "")
            try await waitUntil("/healthz to answer 503", within: .seconds(30)) {
                unhealthy = try await daemon.health(with: transport)
                return unhealthy.status == 503
            }
            #expect(unhealthy.body.contains("cannot reach PostgreSQL"), "\(unhealthy.body)")
            #expect(!unhealthy.body.contains(server.password))
            #expect(daemon.process.isRunning, "a server gone must not stop the daemon")

            try await server.startServer()
            try await waitUntil("/healthz to answer 200 again", within: .seconds(60)) {
                try await daemon.health(with: transport).status == 200
            }
            /// Adds a token due at once and waits until the daemon refreshed it; its id.
            func addedAndRefreshed(after what: String) async throws -> String {
                let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400 + 2))
                let id = try await sandbox.add(sinch.fake.issueToken(), "--expires-at", expires)
                try await waitUntil("the daemon to refresh a token added after \(what)", within: .seconds(60)) {
                    try await sandbox.auditJSON("--event", "refreshed").contains { $0["token"]?.string == id }
                }
                return id
            }
            // Recovered without a restart: a token added now, due at once, is refreshed.
            let fresh = try await addedAndRefreshed(after: "the server came back")

            // And an operator's `pg_ctl restart -m fast` (a short outage, connections cut): the
            // daemon keeps running and refreshes what is added after it.
            try await server.restartServer()
            let later = try await addedAndRefreshed(after: "pg_ctl restart")
            try await waitUntil("/healthz to answer 200 after pg_ctl restart", within: .seconds(60)) {
                try await daemon.health(with: transport).status == 200
            }
            #expect(daemon.process.isRunning)
            #expect(try await sandbox.listedIDs().sorted() == [kept, fresh, later].sorted())
            #expect(try await sandbox.run("audit", "verify").status == 0)
            try await daemon.process.terminateGracefully(within: .seconds(30))
            #expect(daemon.process.terminationStatus == 0)
            let log = try String(contentsOfFile: daemon.log, encoding: .utf8)
            #expect(!log.contains(server.password))
        }
    }

    /// `pg_ctl restart -m immediate` (a crash) in the middle of a daemon's pass: postgres-nio
    /// leaves a query on a dropped connection unanswered, so each round trip gives up as soon as
    /// its connection is closed; the commits that failed are tried again. The pass goes on within
    /// seconds, not after two 35 s timeouts, and every exchanged token is stored, once.
    @Test(.timeLimit(.minutes(6)))
    func aServerCrashMidPassStallsNothingAndLosesNothing() async throws {
        let server = try await PrivatePostgres.start()
        defer { server.stop() }
        // Durable, as in production: without fsync a crash loses commits the server acknowledged.
        try await server.restartServer(durable: true)
        try await SinchHarness.scene { sinch in
            var sandbox = CLISandbox(uninitializedWith: [:])
            sandbox.usePostgres(url: server.url, password: server.password)
            sandbox.point(
                at: sinch,
                environment: ["TOKENKEEPER_RATE": "1000", "TOKENKEEPER_CONCURRENCY": "4", "TOKENKEEPER_JITTER": "0s"]
            )
            try await sandbox.initialize()
            let lines = sandbox.directory.file("due.jsonl")
            let tokens = (0..<400).map { _ in sinch.fake.issueToken() }
            let expires = Self.dayAhead()
            try CLIFiles.write(
                tokens.map { "{\"token\":\"\($0)\",\"project\":\"p1\",\"expires_at\":\"\(expires)\"}\n" }.joined(),
                to: lines
            )
            try await sandbox.succeed("import", lines)
            sinch.fake.inject(FakeSinchFaultRule(.latency(.milliseconds(40)), endpoint: .longLivedAccessToken))
            func refreshed() async throws -> Int {
                Int(
                    try await sandbox.underTheSeam("SELECT COUNT(*) FROM audit WHERE event = 'refreshed'")
                        .trimmingCharacters(in: .whitespacesAndNewlines)
                ) ?? 0
            }

            let daemon = try await sandbox.startDaemon()
            defer { if daemon.process.isRunning { kill(daemon.process.processIdentifier, SIGKILL) } }
            try await waitUntil("the pass under way") { try await refreshed() >= 40 }
            try await server.restartServer(immediately: true, durable: true)
            let back = try await refreshed()
            // A hang guard far above the seconds it takes: two stalled round trips took 70 s.
            try await waitUntil("the pass to go on after the crash", within: .seconds(30)) {
                try await refreshed() > back + 20
            }
            try await waitUntil("every token refreshed", within: .seconds(120)) {
                try await refreshed() == tokens.count
            }
            try await daemon.process.terminateGracefully(within: .seconds(30))

            try sinch.expectEachExchangedOnce(tokens)
            #expect(try await sandbox.run("audit", "verify").status == 0)
            let log = try String(contentsOfFile: daemon.log, encoding: .utf8)
            #expect(!log.contains("recovery file"), "a token went to a recovery file")
        }
    }
}
