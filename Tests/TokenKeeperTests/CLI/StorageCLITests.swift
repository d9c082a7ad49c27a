import Foundation
import Synchronization
import Testing
import TokenKeeperTesting

/// The database as processes share it: concurrent writers, held locks, rows changed behind the
/// tool's back, and the way back from `needs_reauth`.
@Suite struct StorageCLITests {
    @Test func concurrentAddsAllLandWithAnIntactChain() async throws {
        let sandbox = try await CLISandbox()
        let cli = sandbox.cli
        // Eight processes at once, each waited for on a thread of its own.
        let finished = try await withThrowingTaskGroup(of: CLI.Result.self) { group in
            for index in 0..<8 {
                group.addTask { try await cli.run(["add", "--project", "p\(index)"], stdin: CLISecret.make()) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(finished.count == 8)
        #expect(finished.allSatisfy { $0.status == 0 }, "\(finished.map(\.stderr))")
        let ids = Set(finished.map { $0.stdout.trimmingCharacters(in: .newlines) })
        #expect(Set(try await sandbox.listedIDs()) == ids)
        #expect(try await sandbox.auditJSON().map { $0["seq"] } == (1...8).map { .integer($0) })
        #expect(try await sandbox.run("audit", "verify").status == 0)
    }

    @Test func writeLockedPastTheTimeoutIsADatabaseError() async throws {
        let sandbox = try await CLISandbox()
        try await sandbox.add(CLISecret.make())
        let holder = try SQLiteConnectionHolder(database: sandbox.databasePath, sql: "BEGIN IMMEDIATE;")

        let result = try await sandbox.run("add", "--project", "p1", stdin: CLISecret.make())

        holder.close()
        #expect(result.status == 74)
        #expect(result.stderr.contains("locked"), "stderr: \(result.stderr)")
        #expect(try await sandbox.listedIDs().count == 1)
        #expect(try await sandbox.auditJSON().count == 1)
    }

    @Test func readersAreNotBlockedByAnotherProcessWriting() async throws {
        let sandbox = try await CLISandbox()
        let id = try await sandbox.add(CLISecret.make())
        // Every tokenkeeper connection is closed: the -wal file is gone, as it is between cron runs.
        #expect(!CLIFiles.exists(sandbox.databasePath + "-wal"))
        let holder = try SQLiteConnectionHolder(database: sandbox.databasePath, sql: "BEGIN IMMEDIATE;")
        defer { holder.close() }

        let list = try await sandbox.run("list", "--json")
        let check = try await sandbox.run("check")

        #expect(list.status == 0, "stderr: \(list.stderr)")
        #expect(list.stdout.contains(id))
        #expect(check.status == 0, "stdout: \(check.stdout)")
    }

    @Test func sealedTokenMovedToAnotherRowDoesNotOpen() async throws {
        let sandbox = try await CLISandbox()
        let first = try await sandbox.add(CLISecret.make())
        let second = try await sandbox.add(CLISecret.make())
        try await sandbox.sqlite(
            "UPDATE tokens SET sealed_token = (SELECT sealed_token FROM tokens WHERE id = '\(first)') WHERE id = '\(second)'"
        )

        let result = try await sandbox.run("get", second)

        #expect(result.status == 74)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains(second))
        #expect(try await sandbox.auditJSON("--event", "revealed").isEmpty)
    }

    @Test func lastErrorIsPrintedAsAnObjectWithClassCodeStatusMessageAndAt() async throws {
        let sandbox = try await CLISandbox()
        let id = try await sandbox.add(CLISecret.make())
        let at = Int(CLITime.days(-1).timeIntervalSince1970)
        let stored = #"{"class":"permanent","code":"190","status":400,"message":"token invalidated","at":\#(at)}"#
        try await sandbox.sqlite(
            "UPDATE tokens SET state = 'needs_reauth', failures = 3, last_error = '\(stored)' WHERE id = '\(id)'"
        )

        let object = try CLIJSON.parse(try await sandbox.succeed("show", id, "--json").stdout)

        #expect(object["state"] == .string("needs_reauth"))
        #expect(object["failures"] == .integer(3))
        let lastError = try #require(object["last_error"]?.object)
        #expect(Set(lastError.keys) == ["class", "code", "status", "message", "at"])
        #expect(lastError["class"] == .string("permanent"))
        #expect(lastError["code"] == .string("190"))
        #expect(lastError["status"] == .integer(400))
        #expect(lastError["message"] == .string("token invalidated"))
        #expect(lastError["at"] == .string(CLITime.format(Date(timeIntervalSince1970: TimeInterval(at)))))
    }

    @Test func replaceBringsATokenBackFromNeedsReauth() async throws {
        let sandbox = try await CLISandbox()
        let id = try await sandbox.add(CLISecret.make(), project: "p1", "--label", "Acme")
        let stored = #"{"class":"permanent","code":"190","status":400,"message":"token invalidated","at":1}"#
        try await sandbox.sqlite(
            "UPDATE tokens SET state = 'needs_reauth', failures = 3, last_error = '\(stored)' WHERE id = '\(id)'"
        )
        #expect(try await sandbox.run("check").status == 2)
        let token = CLISecret.make()

        let result = try await sandbox.succeed("add", "--replace", id, "--json", stdin: token)

        let object = try CLIJSON.parse(result.stdout)
        #expect(object["id"] == .string(id))
        #expect(object["state"] == .string("active"))
        #expect(object["failures"] == .integer(0))
        #expect(object["last_error"] == .null)
        #expect(object["label"] == .string("Acme"))
        #expect(try await sandbox.run("check").status == 0)
        #expect(try await sandbox.succeed("get", id).stdout == token + "\n")
    }
}
