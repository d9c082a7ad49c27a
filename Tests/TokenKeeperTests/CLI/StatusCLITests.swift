import FakeSinch
import Foundation
import Testing
import TokenKeeper
import TokenKeeperTesting

/// `status` and `check --stale`: the refreshers' heartbeats as real processes write and read them.
@Suite struct StatusCLITests {
    /// Every output a test saw, to grep for the token values it stored.
    final class Outputs: @unchecked Sendable {
        private var results: [CLI.Result] = []
        private let lock = NSLock()

        @discardableResult
        func keep(_ result: CLI.Result) -> CLI.Result {
            lock.withLock { results.append(result) }
            return result
        }

        func expectNone(of secrets: [String], sourceLocation: SourceLocation = #_sourceLocation) {
            let text = lock.withLock { results.map(\.everything).joined(separator: "\n") }
            for secret in secrets {
                #expect(!text.contains(secret), "a token value was printed", sourceLocation: sourceLocation)
            }
        }
    }

    /// `status --json`, parsed, after checking it exits 0.
    func statusJSON(_ sandbox: CLISandbox, _ outputs: Outputs) async throws -> CLIJSON {
        let result = outputs.keep(try await sandbox.run("status", "--json"))
        try #require(result.status == 0, "status exited \(result.status): \(result.stderr)")
        #expect(result.stdout.split(separator: "\n").count == 1)
        return try CLIJSON.parse(result.stdout)
    }

    /// A RFC 3339 field of `object`, as seconds since 1970.
    func time(_ object: CLIJSON?, _ key: String) -> Double? {
        object?[key]?.string.flatMap(CLITime.parse)?.timeIntervalSince1970
    }

    @Test(arguments: TestBackend.all)
    func aFreshStoreHasSeenNoRefresher(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let outputs = Outputs()
        let secret = CLISecret.make()
        try await sandbox.add(secret)

        let text = outputs.keep(try await sandbox.run("status"))
        #expect(text.status == 0)
        #expect(
            text.stdout.contains("tokens:        1 (active 1, retrying 0, needs_reauth 0, expired 0)"),
            "\(text.stdout)"
        )
        #expect(
            text.stdout.contains(
                "refreshers:    none seen in the last day (no daemon or run-once has written a heartbeat)"
            )
        )
        let json = try await statusJSON(sandbox, outputs)
        #expect(json["refreshers"] == .array([]))
        #expect(json["tokens"]?["total"] == .integer(1))
        #expect(json["store"]?.string == sandbox.databaseLocation)
        outputs.expectNone(of: [secret])
    }

    @Test(.timeLimit(.minutes(4)), arguments: TestBackend.all)
    func runOnceLeavesOneRefresherPerRunWithItsLastPass(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await CLISandbox.make(
                sinch: sinch,
                environment: ["TOKENKEEPER_RATE": "1000"],
                backend: backend
            )
            let outputs = Outputs()
            let values = (0..<4).map { _ in sinch.fake.issueToken() }
            let due = CLITime.format(CLITime.days(1))
            try await sandbox.add(values[0], "--expires-at", due)
            try await sandbox.add(values[1])
            try await sandbox.add(values[2])
            let reauth = try await sandbox.add(values[3])
            try await sandbox.underTheSeam("UPDATE tokens SET state = 'needs_reauth' WHERE id = '\(reauth)'")

            // A rehearsal is no pass: it writes no heartbeat.
            try #require(outputs.keep(try await sandbox.run("run-once", "--dry-run")).status == 0)
            #expect(try await statusJSON(sandbox, outputs)["refreshers"] == .array([]))

            let before = Date().timeIntervalSince1970.rounded(.down)
            let run = outputs.keep(try await sandbox.run("run-once", "--json"))
            try #require(run.status == 0, "\(run.stderr)")
            #expect(try CLIJSON.parse(run.stdout)["refreshed"] == .integer(1))
            let after = Date().timeIntervalSince1970.rounded(.up)

            let json = try await statusJSON(sandbox, outputs)
            #expect(
                json["tokens"]
                    == .object([
                        "total": .integer(4), "stored": .integer(4), "active": .integer(3), "retrying": .integer(0),
                        "needs_reauth": .integer(1), "expired": .integer(0),
                    ])
            )
            #expect(json["warning"] == .null)
            let refreshers = try #require(json["refreshers"]?.array)
            try #require(refreshers.count == 1, "\(refreshers)")
            let refresher = refreshers[0]
            #expect(refresher["kind"] == .string("run-once"))
            #expect(refresher["last_pass_ok"] == .bool(true))
            #expect(refresher["last_error_class"] == .null)
            #expect(refresher["live"] == .bool(true))
            #expect(refresher["host"]?.string == ProcessInfo.processInfo.hostName)
            #expect(refresher["version"]?.string == TokenKeeperVersion.current)
            let pid = try #require(refresher["pid"].flatMap { if case .integer(let pid) = $0 { pid } else { nil } })
            #expect(pid > 0 && pid != Int(getpid()))
            #expect(refresher["owner"]?.string?.hasPrefix("\(ProcessInfo.processInfo.hostName):\(pid):") == true)
            let started = try #require(time(refresher, "started_at"))
            let passed = try #require(time(refresher, "last_pass_at"))
            let seen = try #require(time(refresher, "last_seen_at"))
            #expect(before <= started && started <= passed && passed <= seen && seen <= after)

            let text = outputs.keep(try await sandbox.run("status")).stdout
            #expect(text.contains("refreshers:    1 seen in the last day"), "\(text)")
            let row = try #require(text.split(separator: "\n").first { $0.contains("run-once") })
            #expect(row.hasSuffix(" ok"), "\(row)")
            #expect(!row.contains("(stale)"))

            // `check` reads the same pass.
            let check = try CLIJSON.parse(outputs.keep(try await sandbox.run("check", "--json")).stdout)
            #expect(check["last_pass_at"] == refresher["last_pass_at"])
            #expect(check["refreshers_stale"] == .bool(false))
            #expect(check["status"] == .string("CRITICAL"), "the needs_reauth token")

            // Each run is a process of its own: a second row.
            try #require(outputs.keep(try await sandbox.run("run-once")).status == 0)
            let kinds = try await statusJSON(sandbox, outputs)["refreshers"]?.array?.compactMap { $0["kind"]?.string }
            #expect(kinds == ["run-once", "run-once"])
            outputs.expectNone(of: values)
        }
    }

    @Test(.timeLimit(.minutes(6)), arguments: TestBackend.all)
    func aRunningDaemonIsListedLiveAndItsLastBeatHoldsItsPass(_ backend: TestBackend) async throws {
        try await SinchHarness.scene { sinch in
            let sandbox = try await CLISandbox.make(
                sinch: sinch,
                environment: ["TOKENKEEPER_RATE": "1000"],
                backend: backend
            )
            let outputs = Outputs()
            let value = sinch.fake.issueToken()
            try await sandbox.add(value, "--expires-at", CLITime.format(CLITime.days(1)))
            let daemon = try await sandbox.startDaemon()
            defer { if daemon.process.isRunning { kill(daemon.process.processIdentifier, SIGKILL) } }

            var listed: CLIJSON?
            try await waitUntil("status to list the daemon", within: .seconds(30)) {
                listed = try await statusJSON(sandbox, outputs)["refreshers"]?.array?.first {
                    $0["kind"] == .string("daemon")
                }
                return listed != nil
            }
            #expect(listed?["live"] == .bool(true))
            #expect(listed?["pid"] == .integer(Int(daemon.process.processIdentifier)))
            #expect(listed?["host"]?.string == ProcessInfo.processInfo.hostName)
            let text = outputs.keep(try await sandbox.run("status")).stdout
            let row = try #require(text.split(separator: "\n").first { $0.contains(" daemon ") }, "\(text)")
            #expect(!row.contains("(stale)"))

            // Once its first pass is logged, a stop writes a last beat that holds it.
            try await waitUntil("the daemon's first pass", within: .seconds(60)) {
                let log = (try? String(contentsOfFile: daemon.log, encoding: .utf8)) ?? ""
                return log.split(separator: "\n").contains {
                    (try? CLIJSON.parse(String($0)))?["msg"]?.string == "refresh pass"
                }
            }
            try await daemon.process.terminateGracefully(within: .seconds(30))
            #expect(daemon.process.terminationStatus == 0)
            let stopped = try await statusJSON(sandbox, outputs)["refreshers"]?.array?.first {
                $0["kind"] == .string("daemon")
            }
            #expect(stopped?["last_pass_ok"] == .bool(true))
            #expect(time(stopped, "last_pass_at") != nil, "\(String(describing: stopped))")
            outputs.expectNone(of: [value])
            #expect(!((try? String(contentsOfFile: daemon.log, encoding: .utf8)) ?? "").contains(value))
        }
    }

    @Test(arguments: TestBackend.all)
    func checkRightAfterAddsIsOKWhateverTheStaleLimit(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let outputs = Outputs()
        let secrets = [CLISecret.make(), CLISecret.make()]
        for secret in secrets { try await sandbox.add(secret) }

        let plain = outputs.keep(try await sandbox.run("check"))
        #expect(plain.status == 0, "\(plain.stdout)")
        #expect(
            plain.stdout.trimmingCharacters(in: .newlines).hasSuffix(" warning=0 refreshers_stale=0"),
            "\(plain.stdout)"
        )
        let off = outputs.keep(try await sandbox.run("check", "--stale", "0"))
        #expect(off.status == 0)
        #expect(!off.stdout.contains("refreshers_stale"), "\(off.stdout)")

        let json = try CLIJSON.parse(outputs.keep(try await sandbox.run("check", "--json")).stdout)
        #expect(json["stale"] == .string("1h"))
        #expect(json["refreshers_stale"] == .bool(false))
        #expect(json["last_pass_at"] == .null)
        let weeks = outputs.keep(try await sandbox.run("check", "--stale", "5w", "--json"))
        #expect(weeks.status == 0)
        #expect(try CLIJSON.parse(weeks.stdout)["stale"] == .string("35d"))
        let none = try CLIJSON.parse(outputs.keep(try await sandbox.run("check", "--stale", "0", "--json")).stdout)
        #expect(none["stale"] == .null)
        #expect(none["refreshers_stale"] == .bool(false))
        outputs.expectNone(of: secrets)
    }

    @Test(arguments: TestBackend.all)
    func checkWarnsWhenNoRefresherPassedWithinStale(_ backend: TestBackend) async throws {
        var sandbox = try await CLISandbox(backend: backend)
        let outputs = Outputs()
        let secret = CLISecret.make()
        try await sandbox.add(secret)

        // The store outlives a one-second limit in a second or two; nothing has passed.
        var result: CLI.Result?
        try await waitUntil("check --stale 1s to warn", within: .seconds(30)) {
            result = outputs.keep(try await sandbox.run("check", "--stale", "1s"))
            return result?.status != 0
        }
        let warning = try #require(result)
        #expect(warning.status == 1)
        #expect(
            warning.stdout.hasPrefix(
                "TOKENKEEPER WARNING - no refresher (daemon or run-once) has completed a pass in 1s (none seen)"
            ),
            "\(warning.stdout)"
        )
        #expect(warning.stdout.contains(" refreshers_stale=1"))
        let json = try CLIJSON.parse(outputs.keep(try await sandbox.run("check", "--stale", "1s", "--json")).stdout)
        #expect(json["status"] == .string("WARNING") && json["exit_code"] == .integer(1))
        #expect(json["refreshers_stale"] == .bool(true))
        #expect(json["stale"] == .string("1s"))

        // A pass that went through (written under the seam an hour ahead, so no clock can
        // outrun it) clears the warning; the same pass marked failed does not.
        let ahead = Int(Date().timeIntervalSince1970) + 3_600
        try await sandbox.underTheSeam(
            """
            INSERT INTO refreshers (owner, host, pid, kind, version, started_at, beat_at, last_pass_at, last_pass_ok, last_error_class)
            VALUES ('h:1:1', 'h', 1, 'daemon', '0.1.0', \(ahead), \(ahead), \(ahead), TRUE, NULL)
            """
        )
        let fresh = outputs.keep(try await sandbox.run("check", "--stale", "1s"))
        #expect(fresh.status == 0, "\(fresh.stdout)")
        #expect(fresh.stdout.contains(" refreshers_stale=0"))
        try await sandbox.underTheSeam("UPDATE refreshers SET last_pass_ok = FALSE, last_error_class = 'database'")
        #expect(outputs.keep(try await sandbox.run("check", "--stale", "1s")).status == 1)

        // The limit from the environment and from a config file; `0` turns it off.
        sandbox.cli.environment["TOKENKEEPER_CHECK_STALE"] = "1s"
        #expect(outputs.keep(try await sandbox.run("check")).status == 1)
        sandbox.cli.environment["TOKENKEEPER_CHECK_STALE"] = "0"
        let off = outputs.keep(try await sandbox.run("check"))
        #expect(off.status == 0 && !off.stdout.contains("refreshers_stale"), "\(off.stdout)")
        sandbox.cli.environment["TOKENKEEPER_CHECK_STALE"] = nil
        let config = sandbox.directory.file("config.yaml")
        try CLIFiles.write("check:\n  stale: 1s\n", to: config)
        #expect(outputs.keep(try await sandbox.run("check", "--config", config)).status == 1)
        // The flag wins over the file.
        #expect(outputs.keep(try await sandbox.run("check", "--config", config, "--stale", "0")).status == 0)
        outputs.expectNone(of: [secret])
    }

    @Test(arguments: TestBackend.all)
    func aBadStaleLimitIsAUsageOrConfigurationError(_ backend: TestBackend) async throws {
        var sandbox = try await CLISandbox(backend: backend)
        try await sandbox.add(CLISecret.make())

        let flag = try await sandbox.run("check", "--stale", "abc")
        #expect(flag.status == 64)
        #expect(flag.stderr.contains(#""abc" is not a duration"#), "\(flag.stderr)")
        #expect(flag.stdout.isEmpty)

        // A bad setting is a configuration error: `check` reports it as UNKNOWN on stdout (a
        // monitoring system reads no stderr), any other command exits 64.
        sandbox.cli.environment["TOKENKEEPER_CHECK_STALE"] = "abc"
        let check = try await sandbox.run("check")
        #expect(check.status == 3)
        #expect(
            check.stdout.hasPrefix(
                #"TOKENKEEPER UNKNOWN - invalid duration for check.stale (TOKENKEEPER_CHECK_STALE): "abc""#
            ),
            "\(check.stdout)"
        )
        let json = try CLIJSON.parse(try await sandbox.run("check", "--json").stdout)
        #expect(json["status"] == .string("UNKNOWN"))
        let status = try await sandbox.run("status")
        #expect(status.status == 64)
        #expect(status.stderr.contains("check.stale (TOKENKEEPER_CHECK_STALE)"), "\(status.stderr)")
    }

    /// `check.stale: 0s` in the config turns the check off, as `0` does; `--stale 0s` should too.
    @Test func aZeroDurationStaleFlagTurnsTheCheckOffAsTheSettingDoes() async throws {
        var sandbox = try await CLISandbox()
        try await sandbox.add(CLISecret.make())
        sandbox.cli.environment["TOKENKEEPER_CHECK_STALE"] = "0s"
        let setting = try await sandbox.run("check")
        #expect(setting.status == 0 && !setting.stdout.contains("refreshers_stale"), "\(setting.stdout)")
        sandbox.cli.environment["TOKENKEEPER_CHECK_STALE"] = nil
        let flag = try await sandbox.run("check", "--stale", "0s")
        #expect(flag.status == 0, "--stale 0s warns: \(flag.stdout)")
        #expect(!flag.stdout.contains("refreshers_stale"), "\(flag.stdout)")
    }
}
