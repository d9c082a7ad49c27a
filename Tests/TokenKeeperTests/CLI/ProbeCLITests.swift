import FakeSinch
import Foundation
import SinchProvisioning
import Testing
import TokenKeeperTesting

/// `probe (ID... | --all | --project P) [--json]` and the daemon's `policy.probe_every`, through
/// the binary against FakeSinch over HTTP: `wabaDetails` asks whether Meta still accepts a token.
@Suite struct ProbeCLITests {
    /// A sandbox talking to `sinch`, with a reauth hook that leaves `HOOKS/ID.reauth` (its
    /// `TOKENKEEPER_ERROR`) for each token it ran for; the sandbox and that folder.
    func sandbox(
        _ sinch: SinchHarness,
        backend: TestBackend = .sqlite,
        environment: [String: String] = [:]
    ) async throws -> (CLISandbox, String) {
        var sandbox = try await CLISandbox.make(sinch: sinch, environment: environment, backend: backend)
        let record = sandbox.directory.file("hooks")
        try FileManager.default.createDirectory(atPath: record, withIntermediateDirectories: true)
        let script = sandbox.directory.file("reauth.sh")
        try """
        #!/bin/sh
        env | grep '^TOKENKEEPER_ERROR=' > "$HOOK_RECORD/$TOKENKEEPER_TOKEN_ID.$1"
        """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        sandbox.cli.environment["HOOK_RECORD"] = record
        sandbox.cli.environment["TOKENKEEPER_HOOK_REAUTH"] = "\(script) reauth"
        return (sandbox, record)
    }

    /// `show ID --json`, parsed.
    func show(_ sandbox: CLISandbox, _ id: String, into outputs: inout [CLI.Result]) async throws -> [String: CLIJSON] {
        let result = try await sandbox.succeed("show", id, "--json")
        outputs.append(result)
        return try #require(try CLIJSON.parse(result.stdout).object)
    }

    /// Expects no run's output to hold any of `tokens`.
    func expectNoToken(in outputs: [CLI.Result], _ tokens: [String], sourceLocation: SourceLocation = #_sourceLocation)
    {
        for output in outputs {
            for token in tokens {
                #expect(!output.everything.contains(token), "a token value was printed", sourceLocation: sourceLocation)
            }
        }
    }

    /// The value of the one sample `series` (its name and labels as printed) in Prometheus text.
    static func sample(_ series: String, in text: String) -> Double? {
        text.split(separator: "\n").lazy.filter { $0.hasPrefix(series + " ") }
            .compactMap { Double($0.dropFirst(series.count + 1)) }.first
    }

    @Test(arguments: TestBackend.all)
    func aGoodTokenIsAcceptedAndOnlyItsLastProbedAtMoves(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            let (sandbox, _) = try await sandbox(sinch, backend: backend)
            var outputs: [CLI.Result] = []
            let token = sinch.fake.issueToken()
            let id = try await sandbox.add(token)
            let before = try await show(sandbox, id, into: &outputs)
            #expect(before["last_probed_at"] == .null)

            let result = try await sandbox.run("probe", id)
            outputs.append(result)

            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("\(id)  accepted"), "\(result.stdout)")
            #expect(sinch.fake.stats().count(.wabaDetails, status: 200) == 1)
            #expect(sinch.fake.stats().count(.longLivedAccessToken) == 0, "a probe refreshed the token")
            var after = try await show(sandbox, id, into: &outputs)
            let probedAt = try #require(after["last_probed_at"]?.string)
            #expect(CLITime.isUTCStamp(probedAt), "\(probedAt)")
            after["last_probed_at"] = .null
            #expect(after == before, "a probe changed more than last_probed_at")
            // The stored value is the one added, still alive at Sinch.
            let inventory = try sandbox.keyedInventory()
            #expect(try inventory.unsealed(inventory.token(id: id)) == token)
            #expect(sinch.fake.isValid(token))
            let audit = try await sandbox.run("audit", "--json")
            outputs.append(audit)
            #expect(try CLIJSON.parseLines(audit.stdout).compactMap { $0["event"]?.string } == ["added"])
            expectNoToken(in: outputs, [token])
        }
    }

    @Test(arguments: TestBackend.all)
    func aRevokedTokenGoesNeedsReauthAuditedWithTheHookAndCheckGoesCritical(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            let (sandbox, record) = try await sandbox(sinch, backend: backend)
            var outputs: [CLI.Result] = []
            let token = sinch.fake.issueToken()
            let id = try await sandbox.add(token)
            let calm = try await sandbox.run("check")
            outputs.append(calm)
            #expect(calm.status != 2, "CRITICAL before the probe: \(calm.stdout)")
            sinch.fake.revoke(token: token)

            let result = try await sandbox.run("probe", id)
            outputs.append(result)

            #expect(result.status == 1, "\(result.stderr)")
            #expect(result.stdout.contains("\(id)  refused (invalid_facebook_token)"), "\(result.stdout)")
            #expect(sinch.fake.stats().count(.longLivedAccessToken) == 0)
            let shown = try await show(sandbox, id, into: &outputs)
            #expect(shown["state"] == .string("needs_reauth"))
            #expect(shown["last_error"]?["code"] == .string("invalid_facebook_token"))
            #expect(shown["last_refreshed_at"] == .null, "a probe is not a refresh")
            let audit = try await sandbox.run("audit", "--json")
            outputs.append(audit)
            let events = try CLIJSON.parseLines(audit.stdout).filter { $0["event"]?.string == "needs_reauth" }
            #expect(events.count == 1)
            #expect(events.first?["token"] == .string(id))
            let note = try #require(events.first?["detail"]?["note"]?.string)
            #expect(note.hasPrefix("probe:"), "\(note)")
            #expect(note.contains("invalid_facebook_token"))
            let hook = try String(contentsOfFile: "\(record)/\(id).reauth", encoding: .utf8)
            #expect(hook.contains("TOKENKEEPER_ERROR=permanent invalid_facebook_token"), "\(hook)")
            let check = try await sandbox.run("check")
            outputs.append(check)
            #expect(check.status == 2)
            #expect(check.stdout.hasPrefix("TOKENKEEPER CRITICAL"), "\(check.stdout)")
            #expect(check.stdout.contains(id))
            #expect(try await sandbox.run("audit", "verify").status == 0)
            expectNoToken(in: outputs, [token])
        }
    }

    @Test(arguments: TestBackend.all)
    func allProbesTheLiveTokensAndProjectOnlyItsOwn(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            let (sandbox, _) = try await sandbox(sinch, backend: backend)
            var outputs: [CLI.Result] = []
            let tokens = (0..<4).map { _ in sinch.fake.issueToken() }
            let good = [try await sandbox.add(tokens[0]), try await sandbox.add(tokens[1], project: "p2")]
            let revoked = try await sandbox.add(tokens[2])
            let reauth = try await sandbox.add(tokens[3])
            sinch.fake.revoke(token: tokens[2])
            try await sandbox.underTheSeam("UPDATE tokens SET state = 'needs_reauth' WHERE id = '\(reauth)'")

            let all = try await sandbox.run("probe", "--all", "--json")
            outputs.append(all)

            #expect(all.status == 1, "a refused token: \(all.stderr)")
            let report = try CLIJSON.parse(all.stdout)
            #expect(report["accepted"] == .integer(2))
            #expect(report["refused"] == .integer(1))
            #expect(report["failed"] == .integer(0))
            #expect(report["skipped"] == .integer(0))
            let results = Dictionary(
                uniqueKeysWithValues: (report["tokens"]?.array ?? []).compactMap { entry in
                    entry["id"]?.string.map { ($0, entry["result"]?.string ?? "") }
                }
            )
            #expect(results == [good[0]: "accepted", good[1]: "accepted", revoked: "refused"])
            #expect(sinch.fake.stats().count(.wabaDetails) == 3, "the needs_reauth token was probed")
            #expect(try await show(sandbox, reauth, into: &outputs)["last_probed_at"] == .null)
            #expect(try await show(sandbox, revoked, into: &outputs)["state"] == .string("needs_reauth"))

            // --project p2: its one token, nothing of p1.
            sinch.fake.resetStats()
            let before = try await show(sandbox, good[0], into: &outputs)["last_probed_at"]
            let project = try await sandbox.run("probe", "--project", "p2", "--json")
            outputs.append(project)
            #expect(project.status == 0, "\(project.stderr)")
            let projectReport = try CLIJSON.parse(project.stdout)
            #expect(projectReport["accepted"] == .integer(1))
            #expect(projectReport["tokens"]?.array?.compactMap { $0["id"]?.string } == [good[1]])
            #expect(sinch.fake.stats().count(.wabaDetails) == 1)
            #expect(try await show(sandbox, good[0], into: &outputs)["last_probed_at"] == before)
            #expect(sinch.fake.stats().count(.longLivedAccessToken) == 0)
            expectNoToken(in: outputs, tokens)
        }
    }

    enum Outage: String, CaseIterable, Sendable { case unreachable, serverError, throttled }

    @Test(arguments: TestBackend.all, Outage.allCases)
    func withoutAnAnswerProbeExits69AndTheTokenIsUnchanged(_ backend: TestBackend, outage: Outage) async throws {
        try await SinchHarness.with { sinch in
            var (sandbox, record) = try await sandbox(sinch, backend: backend)
            var outputs: [CLI.Result] = []
            let token = sinch.fake.issueToken()
            let id = try await sandbox.add(token)
            let before = try await show(sandbox, id, into: &outputs)
            switch outage {
            case .unreachable:
                // Port 1 on loopback: nothing listens, the connection is refused.
                sandbox.cli.environment["SINCH_PROVISIONING_URL"] = "http://127.0.0.1:1"
                sandbox.cli.environment["SINCH_AUTH_URL"] = "http://127.0.0.1:1/oauth2/token"
            case .serverError:
                sinch.fake.inject(
                    FakeSinchFaultRule(.error(status: 503, code: "service_unavailable"), endpoint: .wabaDetails)
                )
            case .throttled:
                sinch.fake.inject(FakeSinchFaultRule(.tooManyRequests(retryAfter: "30"), endpoint: .wabaDetails))
            }

            let result = try await sandbox.run("probe", id)
            outputs.append(result)

            #expect(result.status == 69, "\(outage): \(result.stdout) \(result.stderr)")
            #expect(result.stdout.contains("\(id)  no answer"), "\(result.stdout)")
            if outage != .unreachable { #expect(sinch.fake.stats().count(.wabaDetails) >= 1) }
            let after = try await show(sandbox, id, into: &outputs)
            #expect(after["state"] == .string("active"))
            #expect(after["failures"] == before["failures"])
            #expect(after["refresh_at"] == before["refresh_at"])
            #expect(after == before, "\(outage) changed the token")
            #expect(!FileManager.default.fileExists(atPath: "\(record)/\(id).reauth"))
            #expect(sinch.fake.stats().count(.longLivedAccessToken) == 0)
            expectNoToken(in: outputs, [token])
        }
    }

    @Test(arguments: [["probe"], ["probe", "--all", "tk_000000000000"], ["probe", "--all", "--project", "p1"]])
    func probeTakesIdsOrAllOrProjectOneOfThem(arguments: [String]) async throws {
        try await SinchHarness.with { sinch in
            let (sandbox, _) = try await sandbox(sinch)
            let id = try await sandbox.add(sinch.fake.issueToken())
            let result = try await sandbox.cli.run(arguments.map { $0 == "tk_000000000000" ? id : $0 })
            #expect(result.status == 64, "\(result.stderr)")
            #expect(sinch.fake.stats().count(.wabaDetails) == 0)
        }
    }

    @Test(arguments: TestBackend.all)
    func anUnknownIdExits65AndCallsNothing(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            let (sandbox, _) = try await sandbox(sinch, backend: backend)
            let id = try await sandbox.add(sinch.fake.issueToken())
            let alone = try await sandbox.run("probe", "tk_nothere")
            #expect(alone.status == 65, "\(alone.stderr)")
            // Beside a known id too: nothing is asked before every id is found.
            let mixed = try await sandbox.run("probe", id, "tk_nothere")
            #expect(mixed.status == 65, "\(mixed.stderr)")
            #expect(sinch.fake.stats().count(.wabaDetails) == 0)
            #expect(sinch.fake.stats().oauthTokensIssued == 0)
            var outputs: [CLI.Result] = []
            #expect(try await show(sandbox, id, into: &outputs)["last_probed_at"] == .null)
        }
    }

    @Test(arguments: ["30s", "59s"])
    func aProbeIntervalUnderAMinuteIsAConfigurationError(every: String) async throws {
        try await SinchHarness.with { sinch in
            let (sandbox, _) = try await sandbox(sinch, environment: ["TOKENKEEPER_PROBE_EVERY": every])
            let probe = try await sandbox.run("probe", "--all")
            #expect(probe.status == 64)
            #expect(probe.stderr.contains("policy.probe_every"), "\(probe.stderr)")
            let log = sandbox.directory.file("daemon.log")
            let daemon = try sandbox.spawn(["daemon"], stderrFile: log)
            defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
            #expect(try await daemon.exited(within: .seconds(60)), "the daemon started with probe_every \(every)")
            #expect(daemon.terminationStatus == 64)
            #expect(try String(contentsOfFile: log, encoding: .utf8).contains("policy.probe_every"))
            #expect(sinch.fake.stats().count(.wabaDetails) == 0)
        }
    }

    /// Under `TOKENKEEPER_PROBE_EVERY=1m` the daemon finds a token revoked early, weeks before its
    /// refresh, without refreshing anything. Its first probe time is spread over the minute, and
    /// the daemon's timer wakes for it: well inside the three minutes this waits.
    @Test(.timeLimit(.minutes(10)))
    func theDaemonProbesOnItsIntervalAndFindsARevokedTokenWithoutARefresh() async throws {
        try await SinchHarness.scene { sinch in
            let (sandbox, record) = try await sandbox(sinch, environment: ["TOKENKEEPER_PROBE_EVERY": "1m"])
            var outputs: [CLI.Result] = []
            let good = sinch.fake.issueToken()
            let revoked = sinch.fake.issueToken()
            let goodID = try await sandbox.add(good)
            let revokedID = try await sandbox.add(revoked)
            sinch.fake.revoke(token: revoked)
            let inventory = try sandbox.keyedInventory()
            let daemon = try await sandbox.startDaemon()
            defer { if daemon.process.isRunning { kill(daemon.process.processIdentifier, SIGKILL) } }
            let transport = try sinch.transport()

            try await waitUntil("the daemon to probe both tokens", within: .seconds(180)) {
                try await Task.sleep(for: .milliseconds(250))
                let revokedRecord = try inventory.token(id: revokedID)
                let goodRecord = try inventory.token(id: goodID)
                return revokedRecord.state == .needsReauth && goodRecord.lastProbedAt != nil
            }
            var text = ""
            try? await waitUntil("the probes in /metrics", within: .seconds(30)) {
                text = try await RunningDaemon.get(daemon.url + "/metrics", with: transport).body
                return Self.sample(#"tokenkeeper_probe_total{result="refused"}"#, in: text) == 1
            }
            #expect(Self.sample(#"tokenkeeper_probe_total{result="refused"}"#, in: text) == 1, "\(text)")
            #expect((Self.sample(#"tokenkeeper_probe_total{result="accepted"}"#, in: text) ?? 0) >= 1)
            #expect(Self.sample(#"tokenkeeper_probe_total{result="failed"}"#, in: text) == 0)
            // Not counted as a refresh, and no refresh was called.
            #expect(Self.sample(#"tokenkeeper_refresh_total{result="needs_reauth"}"#, in: text) == 0)
            #expect(sinch.fake.stats().count(.longLivedAccessToken) == 0)
            #expect(sinch.fake.stats().count(.wabaDetails) >= 2)
            try await daemon.process.terminateGracefully(within: .seconds(30))
            #expect(daemon.process.terminationStatus == 0)

            let goodShown = try await show(sandbox, goodID, into: &outputs)
            #expect(goodShown["state"] == .string("active"))
            #expect(goodShown["last_refreshed_at"] == .null)
            #expect(try inventory.unsealed(inventory.token(id: goodID)) == good)
            let audit = try await sandbox.run("audit", "--json")
            outputs.append(audit)
            let reauth = try CLIJSON.parseLines(audit.stdout).filter { $0["event"]?.string == "needs_reauth" }
            #expect(reauth.compactMap { $0["token"]?.string } == [revokedID])
            #expect(reauth.first?["detail"]?["note"]?.string?.hasPrefix("probe:") == true)
            #expect(FileManager.default.fileExists(atPath: "\(record)/\(revokedID).reauth"))
            let log = try String(contentsOfFile: daemon.log, encoding: .utf8)
            #expect(!log.contains(good) && !log.contains(revoked), "the daemon logged a token value")
            #expect(!text.contains(good) && !text.contains(revoked))
            expectNoToken(in: outputs, [good, revoked])
        }
    }
}
