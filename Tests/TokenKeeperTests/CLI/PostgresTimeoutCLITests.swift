import Foundation
import Testing
import TokenKeeperTesting

/// The PostgreSQL store's two timeouts: `database.connect_timeout` against a server that takes
/// the connection and never answers, `database.statement_timeout` against another session's lock.
@Suite struct PostgresTimeoutCLITests {
    @Test(.timeLimit(.minutes(2)))
    func aServerThatNeverAnswersFailsTheCommandAtTheConnectTimeout() async throws {
        // A listening socket nobody accepts on: the kernel completes the TCP handshake, then
        // nothing answers the startup message, as a wedged server or a stuck proxy.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(listener >= 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, size) }
        }
        try #require(bound == 0 && listen(listener, 8) == 0)
        var length = size
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        let port = UInt16(bigEndian: address.sin_port)

        let url = "postgres://tokenkeeper@127.0.0.1:\(port)/tokenkeeper?sslmode=disable"
        let sandbox = CLISandbox(uninitializedWith: [
            "TOKENKEEPER_DB": url, "PGPASSWORD": "not-shown-anywhere", "TOKENKEEPER_DB_CONNECT_TIMEOUT": "1s",
        ])
        let result = try await sandbox.cli.run(["list"])
        #expect(result.status == 74, "\(result.stderr)")
        #expect(
            result.stderr.contains("cannot reach PostgreSQL at \(url): no answer within database.connect_timeout (1s)"),
            "\(result.stderr)"
        )
        #expect(!result.stderr.contains("not-shown-anywhere"))
    }

    @Test(.timeLimit(.minutes(2)), .enabled(if: TestBackend.all.contains(.postgres)))
    func aStatementBlockedPastItsTimeoutFailsTheCommandAndWritesNothing() async throws {
        let sandbox = try await CLISandbox(
            environment: ["TOKENKEEPER_DB_STATEMENT_TIMEOUT": "1s"],
            backend: .postgres
        )
        let kept = try await sandbox.add(CLISecret.make(), "--expires-at", "2027-06-01T00:00:00Z")

        // Another session holds the tokens table (as a long migration or a careless operator
        // would) until it is ended below.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = [
            "psql", sandbox.databaseLocation, "-X", "-q", "-c",
            "LOCK TABLE tokens IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60)",
        ]
        holder.environment = ProcessInfo.processInfo.environment.merging(sandbox.cli.environment) { $1 }
        holder.standardOutput = FileHandle.nullDevice
        holder.standardError = FileHandle.nullDevice
        try holder.run()
        defer { if holder.isRunning { kill(holder.processIdentifier, SIGKILL) } }
        let lockQuery = """
            SELECT COUNT(*) FROM pg_locks WHERE relation = 'tokens'::regclass AND mode = 'AccessExclusiveLock' AND granted
            """
        try await waitUntil("the other session to hold the table") {
            try await sandbox.underTheSeam(lockQuery) == "1\n"
        }

        let added = try await sandbox.cli.run(["add", "--project", "p1"], stdin: CLISecret.make() + "\n")
        #expect(added.status == 74, "\(added.stderr)")
        #expect(
            added.stderr.contains("a statement ran past database.statement_timeout (1s); try again"),
            "\(added.stderr)"
        )
        let listed = try await sandbox.cli.run(["list"])
        #expect(listed.status == 74)
        #expect(listed.stderr.contains("database.statement_timeout (1s)"), "\(listed.stderr)")

        // The holder's backend ends with its session (a lock outlives a killed psql otherwise).
        _ = try await sandbox.underTheSeam(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LOCK TABLE tokens%' AND pid <> pg_backend_pid()"
        )
        #expect(try await holder.exited(within: .seconds(30)))
        let ids = try await sandbox.listJSON().compactMap { $0["id"]?.string }
        #expect(ids == [kept], "the blocked add wrote nothing")
        #expect(try await sandbox.auditJSON().count == 1)
    }
}
