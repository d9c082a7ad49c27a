import FakeSinch
import Foundation
import Testing
import TokenKeeperTesting

/// A token Sinch returned for a single-use code is never lost: a busy database is waited for far
/// past the busy timeout, and past that the token is kept sealed in a recovery file.
@Suite struct ExchangeRecoveryCLITests {
    func exchanges(_ sinch: SinchHarness) -> Int {
        sinch.fake.stats().exchangesPerLineage.values.reduce(0, +)
    }

    /// Starts `add --code-stdin ...` and takes the database's write lock (another process's
    /// `BEGIN EXCLUSIVE`) while Sinch is answering the exchange: before the call the database is
    /// free, so the code is spent, and the insert after it finds the database busy.
    func addWhileTheDatabaseLocks(
        _ sandbox: CLISandbox,
        _ sinch: SinchHarness,
        _ arguments: [String]
    ) async throws -> (code: String, lock: SQLiteConnectionHolder, result: Task<CLI.Result, any Error>) {
        let code = sinch.fake.issueCode()
        sinch.fake.inject(FakeSinchFaultRule(.latency(.seconds(3)), endpoint: .longLivedAccessToken, count: 1))
        let cli = sandbox.cli
        let result = Task { try await cli.run(["add", "--code-stdin"] + arguments, stdin: code + "\n") }
        try await waitUntil("the exchange begun") { sinch.fake.stats().requestsPerSecond.values.reduce(0, +) >= 1 }
        let lock = try SQLiteConnectionHolder(database: sandbox.databasePath, sql: "BEGIN EXCLUSIVE;")
        return (code, lock, result)
    }

    @Test func theTokenWaitsForABusyDatabasePastTheBusyTimeout() async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await CLISandbox.make(sinch: sinch)
            let (code, lock, added) = try await addWhileTheDatabaseLocks(sandbox, sinch, ["--project", "p1"])
            try await waitUntil("the code exchanged") { exchanges(sinch) == 1 }
            // Longer than the 5 s busy timeout, which once made `add` give up and drop the token.
            try await Task.sleep(for: .seconds(6))
            lock.close()
            let result = try await added.value
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.contains("the database is busy"))
            let id = result.stdout.trimmingCharacters(in: .newlines)
            let token = try await sandbox.succeed("get", id).stdout.trimmingCharacters(in: .newlines)
            #expect(sinch.fake.isValid(token))
            #expect(!result.everything.contains(token) && !result.everything.contains(code))
        }
    }

    @Test func aTokenThatCannotBeStoredIsKeptSealedAndRecoveredLater() async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await CLISandbox.make(
                sinch: sinch,
                environment: ["TOKENKEEPER_EXCHANGE_STORE_WAIT": "1s"]
            )
            let (code, lock, adding) = try await addWhileTheDatabaseLocks(
                sandbox,
                sinch,
                ["--project", "p1", "--label", "Acme"]
            )
            let failed = try await adding.value
            lock.close()
            #expect(failed.status == 74, "\(failed.stderr)")
            #expect(exchanges(sinch) == 1)
            let folder = sandbox.directory.file("state")
            let kept = try FileManager.default.contentsOfDirectory(atPath: folder).filter {
                $0.hasPrefix("tokenkeeper-recovery_") && $0.hasSuffix(".json")
            }
            try #require(kept.count == 1, "\(failed.stderr)")
            let file = "\(folder)/\(kept[0])"
            #expect(failed.stderr.contains("tokenkeeper add --recover \(file)"))
            #expect(try CLIFiles.mode(file) == 0o600)
            #expect(try await sandbox.listJSON().isEmpty)

            let recovered = try await sandbox.succeed("add", "--recover", file, "--json")
            let record = try #require(try CLIJSON.parse(recovered.stdout).object)
            let id = try #require(record["id"]?.string)
            #expect(record["label"]?.string == "Acme" && record["project"]?.string == "p1")
            let token = try await sandbox.succeed("get", id).stdout.trimmingCharacters(in: .newlines)
            #expect(sinch.fake.isValid(token))
            // One exchange in all: the recovery called nothing.
            #expect(exchanges(sinch) == 1)
            #expect(!FileManager.default.fileExists(atPath: file))
            let audit = try await sandbox.auditJSON("--token", id, "--event", "exchanged")
            #expect(audit.count == 1)
            #expect(audit.first?["detail"]?["source"]?.string == "recovery")
            for text in [failed.everything, recovered.everything] {
                #expect(!text.contains(token) && !text.contains(code))
            }
        }
    }
}
