import FakeSinch
import Foundation
import Testing
import TokenKeeperTesting

/// Hooks run after the commit, without a shell; the token reaches `deploy` on stdin only.
@Suite struct HookCLITests {
    /// A sandbox with due tokens and a hook script that records what each hook received.
    func sandbox(_ sinch: SinchHarness, hooks: [String: String]) async throws -> (CLISandbox, String) {
        var sandbox = try await CLISandbox.make(sinch: sinch)
        let record = sandbox.directory.file("hooks")
        try FileManager.default.createDirectory(atPath: record, withIntermediateDirectories: true)
        let script = sandbox.directory.file("hook.sh")
        try """
        #!/bin/sh
        # $1: the hook's name; stdin, the environment and the arguments go to files.
        cat > "$HOOK_RECORD/$TOKENKEEPER_TOKEN_ID.$1.stdin"
        env | grep -E '^(TOKENKEEPER|SINCH)_' | sort > "$HOOK_RECORD/$TOKENKEEPER_TOKEN_ID.$1.env"
        echo "$@" > "$HOOK_RECORD/$TOKENKEEPER_TOKEN_ID.$1.argv"
        exit "${HOOK_EXIT:-0}"
        """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        sandbox.cli.environment.merge(
            [
                "SINCH_PROVISIONING_URL": sinch.fake.baseURL,
                "SINCH_AUTH_URL": sinch.fake.authURL,
                "SINCH_KEY_ID": sinch.configuration.keyID,
                "SINCH_KEY_SECRET": sinch.configuration.keySecret,
                "HOOK_RECORD": record,
            ]
        ) { $1 }
        for (hook, argument) in hooks {
            sandbox.cli.environment["TOKENKEEPER_HOOK_\(hook.uppercased())"] = "\(script) \(argument)"
        }
        return (sandbox, record)
    }

    func addDue(_ sandbox: CLISandbox, _ token: String) async throws -> String {
        let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
        return try await sandbox.add(token, "--expires-at", expires)
    }

    @Test func deployGetsTheNewTokenOnStdinAndDetailsInTheEnvironment() async throws {
        try await SinchHarness.with { sinch in
            var (sandbox, record) = try await sandbox(sinch, hooks: ["deploy": "deploy"])
            // The key as an environment variable (the systemd unit's way), not only its file.
            let key = try String(contentsOfFile: sandbox.keyFilePath, encoding: .utf8)
            sandbox.cli.environment["TOKENKEEPER_MASTER_KEY"] = key.trimmingCharacters(in: .whitespacesAndNewlines)
            let old = sinch.fake.issueToken()
            let id = try await addDue(sandbox, old)
            let result = try await sandbox.cli.run(["run-once"])
            #expect(result.status == 0, "\(result.stderr)")
            let new = try await sandbox.succeed("get", id).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let stdin = try String(contentsOfFile: "\(record)/\(id).deploy.stdin", encoding: .utf8)
            #expect(stdin.trimmingCharacters(in: .newlines) == new)
            let environment = try String(contentsOfFile: "\(record)/\(id).deploy.env", encoding: .utf8)
            #expect(environment.contains("TOKENKEEPER_TOKEN_ID=\(id)"))
            #expect(environment.contains("TOKENKEEPER_PROJECT=p1"))
            #expect(environment.contains("TOKENKEEPER_EXPIRES_AT="))
            #expect(!environment.contains(new) && !environment.contains(old))
            // Settings pass through; the master key and the Sinch secret do not.
            #expect(environment.contains("SINCH_KEY_ID="))
            #expect(!environment.contains("TOKENKEEPER_MASTER_KEY="))
            #expect(!environment.contains("SINCH_KEY_SECRET="))
            let argv = try String(contentsOfFile: "\(record)/\(id).deploy.argv", encoding: .utf8)
            #expect(argv.trimmingCharacters(in: .newlines) == "deploy")
        }
    }

    @Test func aRevokedTokenRunsReauthOnceWithTheErrorAndNoToken() async throws {
        try await SinchHarness.with { sinch in
            let (sandbox, record) = try await sandbox(sinch, hooks: ["reauth": "reauth", "deploy": "deploy"])
            let token = sinch.fake.issueToken()
            let id = try await addDue(sandbox, token)
            sinch.fake.revoke(token: token)
            #expect(try await sandbox.cli.run(["run-once"]).status == 1)
            let environment = try String(contentsOfFile: "\(record)/\(id).reauth.env", encoding: .utf8)
            #expect(environment.contains("TOKENKEEPER_ERROR=permanent invalid_facebook_token"))
            #expect(try String(contentsOfFile: "\(record)/\(id).reauth.stdin", encoding: .utf8).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: "\(record)/\(id).deploy.stdin"))
            // Never tried again, so never reported again.
            try FileManager.default.removeItem(atPath: "\(record)/\(id).reauth.env")
            _ = try await sandbox.cli.run(["run-once"])
            #expect(!FileManager.default.fileExists(atPath: "\(record)/\(id).reauth.env"))
        }
    }

    @Test func aFailingHookIsAuditedAndNeverUndoesTheRefresh() async throws {
        try await SinchHarness.with { sinch in
            var (sandbox, _) = try await sandbox(sinch, hooks: ["deploy": "deploy"])
            sandbox.cli.environment["HOOK_EXIT"] = "3"
            let old = sinch.fake.issueToken()
            let id = try await addDue(sandbox, old)
            let result = try await sandbox.cli.run(["run-once", "--json"])
            #expect(try CLIJSON.parse(result.stdout)["refreshed"] == .integer(1))
            let new = try await sandbox.succeed("get", id).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(new != old && sinch.fake.isValid(new))
            let audit = try await CLIJSON.parseLines(
                sandbox.succeed("audit", "--event", "hook_failed", "--json").stdout
            )
            #expect(audit.count == 1)
            #expect(audit.first?["detail"]?["note"]?.string == "deploy hook exited 3")
            #expect(try await sandbox.run("audit", "verify").status == 0)
        }
    }

    @Test func aThrottledProjectBacksOffAsAWholeThroughTheBinary() async throws {
        try await SinchHarness.with { sinch in
            var (sandbox, record) = try await sandbox(sinch, hooks: ["recovered": "recovered", "deploy": "deploy"])
            // One call at a time, so the pause provably stops the project's next call. Recovery
            // after the pause, and `recovered`, are proven in process with the manual clock
            // (RefreshEngineHookTests): here Sinch's Retry-After outlasts the test.
            sandbox.cli.environment["TOKENKEEPER_CONCURRENCY"] = "1"
            let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
            var throttled: [String] = []
            for _ in 0..<4 {
                throttled.append(
                    try await sandbox.add(sinch.fake.issueToken(), project: "p1", "--expires-at", expires)
                )
            }
            var others: [String] = []
            for _ in 0..<3 {
                others.append(
                    try await sandbox.add(sinch.fake.issueToken(), project: "p2", "--expires-at", expires)
                )
            }
            sinch.fake.inject(
                FakeSinchFaultRule(
                    .tooManyRequests(retryAfter: "600"),
                    endpoint: .longLivedAccessToken,
                    project: "p1",
                    count: 1
                )
            )
            func projectCalls(_ project: String) -> Int {
                sinch.fake.stats().requestsPerProjectSecond[project, default: [:]].values.reduce(0, +)
            }

            let first = try await sandbox.cli.run(["run-once", "--json"])
            #expect(first.status == 1, "a throttled refresh is a failed refresh: \(first.stderr)")
            let summary = try CLIJSON.parse(first.stdout)
            #expect(summary["refreshed"] == .integer(3))
            #expect(summary["failed"] == .integer(1))
            #expect(summary["skipped"] == .integer(3))
            #expect(projectCalls("p1") == 1, "one 429 must stop the project's other calls")
            // The failure is logged as one JSON line with its token, project, class and latency.
            let logged = try first.stderr.split(separator: "\n").map { try CLIJSON.parse(String($0)) }
            let failure = try #require(logged.first { $0["msg"]?.string == "refresh failed" })
            #expect(failure["level"]?.string == "warning")
            #expect(failure["sinch.project"]?.string == "p1")
            #expect(failure["error.class"]?.string == "throttled")
            #expect(failure["latency_ms"]?.string != nil)
            #expect(failure["token.id"].flatMap(\.string).map(throttled.contains) == true)
            let tokens = try await sandbox.listJSON()
            let paused = tokens.filter { $0["project"]?.string == "p1" }
            #expect(paused.count == 4)
            #expect(paused.allSatisfy { $0["failures"] == .integer(0) }, "throttling charges no token")
            #expect(paused.filter { $0["state"]?.string == "retrying" }.count == 1)
            #expect(paused.first { $0["state"]?.string == "retrying" }?["last_error"]?["class"]?.string == "throttled")

            // Another process inside the pause (cron a minute later) sends nothing for the project.
            let inside = try await sandbox.cli.run(["run-once", "--json"])
            #expect(try CLIJSON.parse(inside.stdout)["due"] == .integer(0))
            #expect(projectCalls("p1") == 1)

            for id in others {
                #expect(FileManager.default.fileExists(atPath: "\(record)/\(id).deploy.stdin"), "\(id) not deployed")
            }
            for id in throttled {
                #expect(!FileManager.default.fileExists(atPath: "\(record)/\(id).deploy.stdin"))
                #expect(!FileManager.default.fileExists(atPath: "\(record)/\(id).recovered.env"))
            }
            #expect(try await sandbox.run("audit", "verify").status == 0)
        }
    }

    @Test func aDryRunRunsTheDeployHookOnlyWhenAskedAndChangesNothing() async throws {
        try await SinchHarness.with { sinch in
            let (sandbox, record) = try await sandbox(sinch, hooks: ["deploy": "deploy"])
            let token = sinch.fake.issueToken()
            let id = try await addDue(sandbox, token)
            let auditBefore = try await sandbox.succeed("audit", "--json").stdout
            let hooked = "\(record)/\(id).deploy.stdin"

            let quiet = try await sandbox.cli.run(["run-once", "--dry-run", "--json"])
            #expect(quiet.status == 0)
            #expect(try CLIJSON.parse(quiet.stdout)["due"] == .integer(1))
            #expect(!FileManager.default.fileExists(atPath: hooked), "--dry-run alone must not run hooks")

            for command in [["run-once"], ["refresh", id]] {
                let rehearsal = try await sandbox.cli.run(command + ["--dry-run", "--run-hooks", "--json"])
                #expect(rehearsal.status == 0, "\(rehearsal.stderr)")
                #expect(try CLIJSON.parse(rehearsal.stdout)["refreshed"] == .integer(0))
                let stdin = try String(contentsOfFile: hooked, encoding: .utf8)
                #expect(stdin.trimmingCharacters(in: .newlines) == token, "the hook gets the current token")
                let environment = try String(contentsOfFile: "\(record)/\(id).deploy.env", encoding: .utf8)
                #expect(environment.contains("TOKENKEEPER_DRY_RUN=1"))
                #expect(!rehearsal.everything.contains(token))
                try FileManager.default.removeItem(atPath: hooked)
            }
            #expect(sinch.fake.stats().count(.longLivedAccessToken) == 0, "a dry run calls nothing")
            #expect(try await sandbox.succeed("audit", "--json").stdout == auditBefore, "a dry run writes nothing")
            #expect(try await sandbox.succeed("get", id).stdout.trimmingCharacters(in: .newlines) == token)

            var failing = sandbox
            failing.cli.environment["HOOK_EXIT"] = "4"
            let failed = try await failing.cli.run(["run-once", "--dry-run", "--run-hooks", "--json"])
            #expect(failed.status == 1, "a failing hook in a rehearsal fails the run")
            #expect(try CLIJSON.parse(failed.stdout)["failed"] == .integer(1))

            let misuse = try await sandbox.cli.run(["run-once", "--run-hooks"])
            #expect(misuse.status == 64)
            #expect(misuse.stderr.contains("--run-hooks goes with --dry-run"))
        }
    }

    @Test func aTokenFoundPastItsExpiryIsExpiredAndRunsReauthOnce() async throws {
        try await SinchHarness.with { sinch in
            let (sandbox, record) = try await sandbox(sinch, hooks: ["reauth": "reauth", "deploy": "deploy"])
            let id = try await addDue(sandbox, sinch.fake.issueToken())
            // Its expiry passes unnoticed (a host that was down): set behind the tool's back, no
            // sleep, no race with a slow `add` (a token added to expire in 2 s once failed so).
            try await sandbox.sqlite(
                "UPDATE tokens SET expires_at = strftime('%s', 'now') - 60, refresh_at = strftime('%s', 'now') - 60"
            )
            let result = try await sandbox.cli.run(["run-once", "--json"])
            #expect(result.status == 1, "an expired token is a failed refresh: \(result.stderr)")
            #expect(try CLIJSON.parse(result.stdout)["failed"] == .integer(1))
            #expect(sinch.fake.stats().count(.longLivedAccessToken) == 0, "a dead token is not sent")
            let token = try #require(try await sandbox.listJSON().first)
            #expect(token["state"]?.string == "expired")
            #expect(FileManager.default.fileExists(atPath: "\(record)/\(id).reauth.env"))
            #expect(!FileManager.default.fileExists(atPath: "\(record)/\(id).deploy.stdin"))
            #expect(try await sandbox.succeed("audit", "--event", "expired", "--json").stdout.contains(id))
            try FileManager.default.removeItem(atPath: "\(record)/\(id).reauth.env")
            _ = try await sandbox.cli.run(["run-once"])
            #expect(!FileManager.default.fileExists(atPath: "\(record)/\(id).reauth.env"), "reauth runs once")
        }
    }

    /// The database's password opens the store: a hook inherits neither `PGPASSWORD` nor a
    /// `TOKENKEEPER_DB` that carries one, and a password file's content is never passed.
    @Test(arguments: TestBackend.all)
    func aHookInheritsNoDatabasePassword(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            var sandbox = try await CLISandbox.make(sinch: sinch, backend: backend)
            let fileSecret = "file-secret-\(UUID().uuidString)"
            let passwordFile = sandbox.directory.file("db.password")
            try CLIFiles.write(fileSecret + "\n", to: passwordFile)
            sandbox.cli.environment["TOKENKEEPER_DB_PASSWORD_FILE"] = passwordFile
            var secrets = [fileSecret]
            if backend == .postgres {
                let (url, password) = try DatabaseURLCLITests.urlWithPassword(sandbox)
                sandbox.cli.environment["TOKENKEEPER_DB"] = url
                secrets.append(password)
            } else {
                sandbox.cli.environment["PGPASSWORD"] = "pg-secret-\(UUID().uuidString)"
            }
            secrets.append(try #require(sandbox.cli.environment["PGPASSWORD"]))
            let dump = sandbox.directory.file("hook.env")
            let script = sandbox.directory.file("dump-env.sh")
            try "#!/bin/sh\ncat >/dev/null\nenv > \"\(dump)\"\n".write(
                toFile: script,
                atomically: true,
                encoding: .utf8
            )
            chmod(script, 0o755)
            sandbox.cli.environment["TOKENKEEPER_HOOK_DEPLOY"] = script
            _ = try await addDue(sandbox, sinch.fake.issueToken())

            let result = try await sandbox.cli.run(["run-once"])
            #expect(result.status == 0, "\(result.stderr)")
            let environment = try String(contentsOfFile: dump, encoding: .utf8)
            #expect(environment.contains("TOKENKEEPER_TOKEN_ID="))
            for secret in secrets { #expect(!environment.contains(secret)) }
            #expect(!environment.contains("PGPASSWORD="))
            // A database setting without a password is a setting like any other.
            #expect(environment.contains("TOKENKEEPER_DB=") == (backend == .sqlite), "\(backend)")
            #expect(environment.contains("TOKENKEEPER_DB_PASSWORD_FILE=\(passwordFile)"))
        }
    }
}
