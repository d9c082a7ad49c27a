import FakeSinch
import Foundation
import Testing
import TokenKeeper
import TokenKeeperTesting

/// `run-once`: the built binary refreshing due tokens against FakeSinch over real HTTP.
@Suite struct RunOnceCLITests {
    /// A sandbox pointed at `sinch`, holding `count` tokens minted by it, due now (they expire in a
    /// day, well inside renew-before). Returns the sandbox, the ids and the original values.
    func dueTokens(
        _ sinch: SinchHarness,
        count: Int,
        project: String = "p1",
        backend: TestBackend = .sqlite
    ) async throws -> (
        CLISandbox, [String], [String]
    ) {
        let sandbox = try await CLISandbox.make(
            sinch: sinch,
            environment: [
                "TOKENKEEPER_RATE": "1000"
            ],
            backend: backend
        )
        let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
        let values = (0..<count).map { _ in sinch.fake.issueToken() }
        var ids: [String] = []
        for value in values { ids.append(try await sandbox.add(value, project: project, "--expires-at", expires)) }
        return (sandbox, ids, values)
    }

    @Test(arguments: TestBackend.all)
    func refreshesWhatIsDueAndTheAuditVerifies(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            let (sandbox, ids, values) = try await dueTokens(sinch, count: 3, backend: backend)
            let result = try await sandbox.cli.run(["run-once", "--json"])
            try #require(result.status == 0, "\(result.stderr)")
            let summary = try #require(try CLIJSON.parse(result.stdout).object)
            #expect(summary["due"] == .integer(3))
            #expect(summary["refreshed"] == .integer(3))
            #expect(summary["failed"] == .integer(0))
            #expect(summary["needs_reauth"] == .integer(0))
            #expect(summary["skipped"] == .integer(0))
            for (id, old) in zip(ids, values) {
                let current = try await sandbox.succeed("get", id).stdout.trimmingCharacters(
                    in: .whitespacesAndNewlines
                )
                #expect(current != old)
                #expect(sinch.fake.isValid(current))
                #expect(sinch.fake.lineage(of: current) == sinch.fake.lineage(of: old))
                let record = try await #require(try CLIJSON.parse(sandbox.succeed("show", id, "--json").stdout).object)
                #expect(record["state"]?.string == "active")
                #expect(record["last_refreshed_at"]?.string != nil)
            }
            #expect(try await sandbox.run("audit", "verify").status == 0)
            // Nothing is due any more.
            let again = try await sandbox.cli.run(["run-once", "--json"])
            #expect(again.status == 0)
            #expect(try CLIJSON.parse(again.stdout)["due"] == .integer(0))
            #expect(sinch.fake.stats().count(.longLivedAccessToken) == 3)
            for value in values { #expect(!(result.everything + again.everything).contains(value)) }
        }
    }

    @Test(arguments: TestBackend.all)
    func aRevokedTokenNeedsReauthAndIsNeverTriedAgain(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            let (sandbox, ids, values) = try await dueTokens(sinch, count: 2, backend: backend)
            sinch.fake.revoke(token: values[0])
            let result = try await sandbox.cli.run(["run-once", "--json"])
            #expect(result.status == 1)
            let summary = try CLIJSON.parse(result.stdout)
            #expect(summary["needs_reauth"] == .integer(1))
            #expect(summary["refreshed"] == .integer(1))
            let record = try await #require(try CLIJSON.parse(sandbox.succeed("show", ids[0], "--json").stdout).object)
            #expect(record["state"]?.string == "needs_reauth")
            #expect(record["last_error"]?["code"]?.string == "invalid_facebook_token")
            #expect(record["last_error"]?["class"]?.string == "permanent")
            let again = try await sandbox.cli.run(["run-once", "--json"])
            #expect(try CLIJSON.parse(again.stdout)["due"] == .integer(0))
            #expect(sinch.fake.stats().count(.longLivedAccessToken, status: 400) == 1)
            #expect(try await sandbox.run("check").status == 2)
        }
    }

    @Test(arguments: TestBackend.all)
    func aTransientFailureRetriesLaterAndExits1(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            let (sandbox, ids, _) = try await dueTokens(sinch, count: 1, backend: backend)
            sinch.fake.inject(
                FakeSinchFaultRule(.error(status: 503, code: "internal_error"), endpoint: .longLivedAccessToken)
            )
            let result = try await sandbox.cli.run(["run-once", "--json"])
            #expect(result.status == 1)
            #expect(try CLIJSON.parse(result.stdout)["failed"] == .integer(1))
            let record = try await #require(try CLIJSON.parse(sandbox.succeed("show", ids[0], "--json").stdout).object)
            #expect(record["state"]?.string == "retrying")
            #expect(record["failures"] == .integer(1))
            #expect(record["last_error"]?["class"]?.string == "transient")
            // Backed off with full jitter: from 1 s to backoff_min (1m) after the failure. (Whether
            // a second run finds it due depends on the draw, so the time itself is checked.)
            let failedAt = try #require(record["last_error"]?["at"]?.string.flatMap { RFC3339.parse($0) })
            let retryAt = try #require(record["refresh_at"]?.string.flatMap { RFC3339.parse($0) })
            #expect(retryAt.seconds >= failedAt.seconds + 1 && retryAt.seconds <= failedAt.seconds + 60)
        }
    }

    @Test(arguments: TestBackend.all)
    func aDryRunCountsAndCallsNothing(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            let (sandbox, ids, values) = try await dueTokens(sinch, count: 2, backend: backend)
            let result = try await sandbox.cli.run(["run-once", "--dry-run", "--json"])
            #expect(result.status == 0)
            #expect(try CLIJSON.parse(result.stdout)["due"] == .integer(2))
            #expect(try CLIJSON.parse(result.stdout)["refreshed"] == .integer(0))
            #expect(sinch.fake.stats().count(.longLivedAccessToken) == 0)
            #expect(
                try await sandbox.succeed("get", ids[0]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                    == values[0]
            )
        }
    }

    /// Nothing ran, so no summary: a cron mail with `due 0, refreshed 0` above the error read as
    /// a quiet night.
    @Test(arguments: [
        (["run-once"], "TOKENKEEPER_LIFETIME", "abc"), (["run-once", "--json"], "TOKENKEEPER_RATE", "0"),
        (["refresh", "--due"], "TOKENKEEPER_LOG_LEVEL", "debgu"), (["run-once"], "TOKENKEEPER_LOG_LEVEL", "debgu"),
    ])
    func aBadConfigurationPrintsItsErrorAndNoSummary(
        arguments: [String],
        variable: String,
        value: String
    )
        async throws
    {
        var sandbox = try await CLISandbox()
        sandbox.cli.environment[variable] = value
        let result = try await sandbox.cli.run(arguments)
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stdout.isEmpty, "\(result.stdout)")
        #expect(result.stderr.contains(variable), "\(result.stderr)")
    }
}
