import FakeSinch
import Foundation
import Testing
import TokenKeeperTesting

/// Whatever a deploy hook does with its standard input, the run goes on: every refresh stays
/// committed, the hook's outcome is audited, no lease is left behind, and the process lives,
/// with SIGPIPE at its default (a shell, cron) and ignored (systemd).
@Suite struct HookResilienceCLITests {
    /// Deploy hooks that do not read their standard input to the end, and whether each fails.
    static let hooks: [(name: String, command: String, fails: Bool)] = [
        ("exits at once", "/bin/true", false),
        ("exits 1 at once", "/bin/false", true),
        ("reads part", #"/bin/sh -c "head -c 3 >/dev/null""#, false),
        ("closes stdin", #"/bin/sh -c "exec 0<&-; sleep 0.1""#, false),
        ("only logs", #"/bin/sh -c "echo deployed; exit 0""#, false),
        ("forks and exits", #"/bin/sh -c "(sleep 3 &); exit 0""#, false),
    ]

    @Test(arguments: [false, true], 0..<hooks.count)
    func aHookThatDoesNotReadItsInputNeverStopsTheRun(sigpipeIgnored: Bool, hookIndex: Int) async throws {
        let hook = Self.hooks[hookIndex]
        try await SinchHarness.with { sinch in
            var sandbox = try await CLISandbox.make(sinch: sinch)
            let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
            var ids: [String] = []
            for _ in 0..<6 {
                ids.append(try await sandbox.add(sinch.fake.issueToken(), "--expires-at", expires))
            }
            sandbox.cli.environment["TOKENKEEPER_HOOK_DEPLOY"] = hook.command
            if sigpipeIgnored {
                // As under systemd: SIGPIPE ignored, which exec passes on.
                sandbox.cli.launcher = ["/bin/sh", "-c", #"trap '' PIPE; exec "$0" "$@""#]
            }
            let result = try await sandbox.cli.run(["run-once", "--json"])
            let context = "hook \(hook.name), SIGPIPE \(sigpipeIgnored ? "ignored" : "default"): \(result.stderr)"
            #expect(result.status == 0, "\(context)")
            let summary = try CLIJSON.parse(result.stdout)
            #expect(summary["refreshed"] == .integer(ids.count), "\(context)")
            await #expect(try sandbox.sqlite("SELECT COUNT(*) FROM tokens WHERE lease_owner IS NOT NULL") == "0\n")
            #expect(try await sandbox.auditJSON("--event", "refreshed").count == ids.count)
            let failures = try await sandbox.auditJSON("--event", "hook_failed")
            #expect(failures.count == (hook.fails ? ids.count : 0), "\(context)")
            if hook.fails {
                #expect(failures.allSatisfy { $0["detail"]?["note"]?.string == "deploy hook exited 1" })
            }
        }
    }
}
