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
        env | grep '^TOKENKEEPER_' | sort > "$HOOK_RECORD/$TOKENKEEPER_TOKEN_ID.$1.env"
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
        return try await sandbox.addAsync(token, "--expires-at", expires)
    }

    @Test func deployGetsTheNewTokenOnStdinAndDetailsInTheEnvironment() async throws {
        try await SinchHarness.with { sinch in
            let (sandbox, record) = try await sandbox(sinch, hooks: ["deploy": "deploy"])
            let old = sinch.fake.issueToken()
            let id = try await addDue(sandbox, old)
            let result = try await sandbox.cli.runDetached(["run-once"])
            #expect(result.status == 0, "\(result.stderr)")
            let new = try await sandbox.succeedAsync("get", id).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let stdin = try String(contentsOfFile: "\(record)/\(id).deploy.stdin", encoding: .utf8)
            #expect(stdin.trimmingCharacters(in: .newlines) == new)
            let environment = try String(contentsOfFile: "\(record)/\(id).deploy.env", encoding: .utf8)
            #expect(environment.contains("TOKENKEEPER_TOKEN_ID=\(id)"))
            #expect(environment.contains("TOKENKEEPER_PROJECT=p1"))
            #expect(environment.contains("TOKENKEEPER_EXPIRES_AT="))
            #expect(!environment.contains(new) && !environment.contains(old))
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
            #expect(try await sandbox.cli.runDetached(["run-once"]).status == 1)
            let environment = try String(contentsOfFile: "\(record)/\(id).reauth.env", encoding: .utf8)
            #expect(environment.contains("TOKENKEEPER_ERROR=permanent invalid_facebook_token"))
            #expect(try String(contentsOfFile: "\(record)/\(id).reauth.stdin", encoding: .utf8).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: "\(record)/\(id).deploy.stdin"))
            // Never tried again, so never reported again.
            try FileManager.default.removeItem(atPath: "\(record)/\(id).reauth.env")
            _ = try await sandbox.cli.runDetached(["run-once"])
            #expect(!FileManager.default.fileExists(atPath: "\(record)/\(id).reauth.env"))
        }
    }

    @Test func aFailingHookIsAuditedAndNeverUndoesTheRefresh() async throws {
        try await SinchHarness.with { sinch in
            var (sandbox, _) = try await sandbox(sinch, hooks: ["deploy": "deploy"])
            sandbox.cli.environment["HOOK_EXIT"] = "3"
            let old = sinch.fake.issueToken()
            let id = try await addDue(sandbox, old)
            let result = try await sandbox.cli.runDetached(["run-once", "--json"])
            #expect(try CLIJSON.parse(result.stdout)["refreshed"] == .integer(1))
            let new = try await sandbox.succeedAsync("get", id).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(new != old && sinch.fake.isValid(new))
            let audit = try CLIJSON.parseLines(sandbox.succeed("audit", "--event", "hook_failed", "--json").stdout)
            #expect(audit.count == 1)
            #expect(audit.first?["detail"]?["note"]?.string == "deploy hook exited 3")
            #expect(try await sandbox.runAsync("audit", "verify").status == 0)
        }
    }
}
