import FakeSinch
import Foundation
import Testing
import TokenKeeperTesting

/// A run that the database stops midway (a full disk, here a trigger that fails the same way)
/// says what it committed before: the summary on stdout, the count in the error line.
@Suite struct InterruptedRunCLITests {
    @Test func aRunStoppedByTheDatabaseReportsWhatItCommitted() async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await CLISandbox.make(sinch: sinch, environment: ["TOKENKEEPER_CONCURRENCY": "1"])
            let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
            for _ in 0..<12 { _ = try await sandbox.add(sinch.fake.issueToken(), "--expires-at", expires) }
            // From the sixth refresh on, every commit fails, as on a disk that filled up.
            try await sandbox.sqlite(
                """
                CREATE TRIGGER disk_full BEFORE UPDATE OF sealed_token ON tokens
                WHEN (SELECT COUNT(*) FROM audit WHERE event = 'refreshed') >= 5
                BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;
                """
            )
            let result = try await sandbox.cli.run(["run-once", "--json"])
            #expect(result.status == 74, "\(result.stderr)")
            let summary = try CLIJSON.parse(result.stdout)
            #expect(summary["refreshed"] == .integer(5), "\(result.stdout)")
            #expect(result.stderr.contains("this run committed 5 outcomes before it (5 refreshed"), "\(result.stderr)")
            #expect(!result.stderr.contains("nothing was changed"))
            #expect(try await sandbox.auditJSON("--event", "refreshed").count == 5)
            await #expect(try sandbox.sqlite("SELECT COUNT(*) FROM tokens WHERE lease_owner IS NOT NULL") == "0\n")

            // Stopped at once the next time: the text summary still comes out.
            let again = try await sandbox.cli.run(["run-once"])
            #expect(again.status == 74)
            #expect(again.stdout.hasPrefix("due 7, refreshed 0, failed 0"), "\(again.stdout)")
        }
    }
}

/// A Sinch that never answers costs a bounded time per pass: after three timeouts in a row the
/// project pauses, its other tokens are not called, and the pause is logged and audited.
@Suite struct HangingSinchCLITests {
    @Test func aHangingSinchPausesTheProjectAfterThreeTimeouts() async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await CLISandbox.make(
                sinch: sinch,
                environment: ["TOKENKEEPER_CONCURRENCY": "1", "TOKENKEEPER_HTTP_TIMEOUT": "1s"]
            )
            let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
            for _ in 0..<8 { _ = try await sandbox.add(sinch.fake.issueToken(), "--expires-at", expires) }
            sinch.fake.inject(FakeSinchFaultRule(.hang, endpoint: .longLivedAccessToken))
            let result = try await sandbox.cli.run(["run-once", "--json"])
            #expect(result.status == 1, "\(result.stderr)")
            let summary = try CLIJSON.parse(result.stdout)
            #expect(summary["failed"] == .integer(3), "\(result.stdout)")
            #expect(summary["skipped"] == .integer(5), "\(result.stdout)")
            #expect(result.stderr.contains("project paused"), "\(result.stderr)")
            // Calls begun (a hung one is never answered): three, not one per token.
            let calls = sinch.fake.stats().requestsPerSecond.values.reduce(0, +)
            #expect(calls == 3)
            let notes = try await sandbox.auditJSON("--event", "refresh_failed").compactMap {
                $0["detail"]?["note"]?.string
            }
            #expect(notes.contains { $0.hasPrefix("3 calls in a row timed out") })
        }
    }
}
