import FakeSinch
import Foundation
import Testing
import TokenKeeperTesting

/// `refresh ID... | --due [--force] [--dry-run]` against FakeSinch.
@Suite struct RefreshCLITests {
    func sandbox(_ sinch: SinchHarness, backend: TestBackend = .sqlite) async throws -> CLISandbox {
        let sandbox = try await CLISandbox.make(sinch: sinch, backend: backend)
        return sandbox
    }

    @Test(arguments: TestBackend.all)
    func aTokenYoungerThanMinAgeIsSkippedUnlessForced(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await sandbox(sinch, backend: backend)
            let old = sinch.fake.issueToken()
            let id = try await sandbox.add(old)  // issued now: younger than the 24 h min_age
            let skipped = try await sandbox.cli.run(["refresh", id, "--json"])
            #expect(skipped.status == 0)
            #expect(try CLIJSON.parse(skipped.stdout)["skipped"] == .integer(1))
            #expect(sinch.fake.stats().count(.longLivedAccessToken) == 0)

            let forced = try await sandbox.cli.run(["refresh", id, "--force", "--json"])
            #expect(forced.status == 0, "\(forced.stderr)")
            #expect(try CLIJSON.parse(forced.stdout)["refreshed"] == .integer(1))
            let current = try await sandbox.succeed("get", id).stdout.trimmingCharacters(
                in: .whitespacesAndNewlines
            )
            #expect(current != old && sinch.fake.isValid(current))
        }
    }

    @Test(arguments: TestBackend.all)
    func anOldEnoughTokenIsRefreshedOnDemand(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await sandbox(sinch, backend: backend)
            let issued = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-2 * 86_400))
            let id = try await sandbox.add(sinch.fake.issueToken(), "--issued-at", issued)
            let result = try await sandbox.cli.run(["refresh", id])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("refreshed 1"))
        }
    }

    @Test func forceNeverTouchesATokenThatNeedsReauth() async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await sandbox(sinch)
            let id = try await sandbox.add(sinch.fake.issueToken())
            _ = try CLISQLite.run(sandbox.databasePath, "UPDATE tokens SET state = 'needs_reauth' WHERE id = '\(id)'")
            let result = try await sandbox.cli.run(["refresh", id, "--force", "--json"])
            #expect(result.status == 0)
            #expect(try CLIJSON.parse(result.stdout)["skipped"] == .integer(1))
            #expect(sinch.fake.stats().count(.longLivedAccessToken) == 0)
        }
    }

    @Test(arguments: TestBackend.all)
    func anUnknownIdExits65AndCallsNothing(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await sandbox(sinch, backend: backend)
            let result = try await sandbox.cli.run(["refresh", "tk_nothere"])
            #expect(result.status == 65)
            #expect(sinch.fake.stats().count(.longLivedAccessToken) == 0)
        }
    }

    @Test(arguments: [[String](), ["tk_a", "--due"]])
    func idsOrDueIsAUsageError(arguments: [String]) async throws {
        try await SinchHarness.with { sinch in
            let result = try await sandbox(sinch).cli.run(["refresh"] + arguments)
            #expect(result.status == 64)
        }
    }
}
