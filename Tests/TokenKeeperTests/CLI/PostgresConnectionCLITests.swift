import Foundation
import Testing
import TokenKeeperTesting

/// How the PostgreSQL store connects: `sslmode` against the run's server (TLS on, a certificate
/// for 127.0.0.1 from its own authority), `database.connect_timeout` against a server that takes
/// the connection and never answers, `database.statement_timeout` against another session's lock.
@Suite struct PostgresConnectionCLITests {
    /// The sandbox's database URL with `query` in place of its own.
    static func url(of sandbox: CLISandbox, _ query: String) -> String {
        let location = sandbox.databaseLocation
        return String(location[..<(location.firstIndex(of: "?") ?? location.endIndex)]) + "?" + query
    }

    /// The sandbox's binary on the database at `url`.
    static func cli(_ sandbox: CLISandbox, at url: String) -> CLI {
        var cli = sandbox.cli
        cli.environment["TOKENKEEPER_DB"] = url
        return cli
    }

    @Test(.enabled(if: TestBackend.all.contains(.postgres) && TestPostgres.authority != nil))
    func verifyFullTrustsOnlyTheAuthorityInSSLRootCert() async throws {
        let sandbox = try await CLISandbox(backend: .postgres)
        let id = try await sandbox.add(CLISecret.make(), "--expires-at", CLITime.format(CLITime.days(30)))
        let authority = try #require(TestPostgres.authority)
        for query in [
            "sslmode=verify-full&sslrootcert=\(authority)", "sslmode=verify-ca&sslrootcert=\(authority)",
            "sslmode=require",
        ] {
            let listed = try await Self.cli(sandbox, at: Self.url(of: sandbox, query)).run(["list", "--json"])
            #expect(listed.status == 0, "\(query): \(listed.stderr)")
            #expect(listed.stdout.contains(id), "\(query)")
        }

        // An authority that did not sign the server's certificate: refused, before any query.
        let other = sandbox.directory.file("other-authority.pem")
        try Self.makeAuthority(at: other)
        for mode in ["verify-full", "verify-ca"] {
            let url = Self.url(of: sandbox, "sslmode=\(mode)&sslrootcert=\(other)")
            let refused = try await Self.cli(sandbox, at: url).run(["list"])
            #expect(refused.status == 74)
            #expect(
                refused.stderr.contains(
                    "cannot reach PostgreSQL at \(url): the server's certificate is not signed by sslrootcert \(other) (sslmode=\(mode))"
                ),
                "\(refused.stderr)"
            )
        }
    }

    /// A self-signed certificate, PEM, at `path`: an authority the server never heard of.
    static func makeAuthority(at path: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", path + ".key", "-out", path, "-days", "1", "-subj", "/CN=another authority",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "openssl req failed")
    }

    @Test(.timeLimit(.minutes(2)))
    func aServerThatNeverAnswersFailsTheCommandAtTheConnectTimeout() async throws {
        // A listening socket nobody accepts on: the kernel completes the TCP handshake, then
        // nothing answers the startup message, as a wedged server or a stuck proxy.
        let listener = try LoopbackListener()
        let port = listener.port
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
        withExtendedLifetime(listener) {}
    }

    @Test(.timeLimit(.minutes(2)))
    func sslmodeRequireRefusesAServerThatDoesNotOfferTLS() async throws {
        // A server that answers the TLS request with 'N' (no TLS), as one with ssl = off does.
        let listener = try LoopbackListener()
        let descriptor = listener.descriptor
        Thread.detachNewThread {
            let connection = accept(descriptor, nil, nil)
            guard connection >= 0 else { return }
            var request = [UInt8](repeating: 0, count: 8)
            _ = read(connection, &request, 8)
            _ = write(connection, "N", 1)
            while read(connection, &request, 8) > 0 {}
            close(connection)
        }
        let url = "postgres://tokenkeeper@127.0.0.1:\(listener.port)/tokenkeeper?sslmode=require"
        let sandbox = CLISandbox(uninitializedWith: ["TOKENKEEPER_DB": url, "PGPASSWORD": "x"])
        let result = try await sandbox.cli.run(["list"])
        #expect(result.status == 74)
        #expect(
            result.stderr.contains("database \(url): the server does not offer TLS, which sslmode=require requires"),
            "\(result.stderr)"
        )
        withExtendedLifetime(listener) {}
    }

    @Test(.timeLimit(.minutes(2)), .enabled(if: TestBackend.all.contains(.postgres)))
    func aStatementBlockedPastItsTimeoutFailsTheCommandAndWritesNothing() async throws {
        let sandbox = try await CLISandbox(
            environment: ["TOKENKEEPER_DB_STATEMENT_TIMEOUT": "1s"],
            backend: .postgres
        )
        let kept = try await sandbox.add(CLISecret.make(), "--expires-at", CLITime.format(CLITime.days(30)))

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

/// A TCP socket listening on 127.0.0.1 at a port the kernel picked; closed when released.
final class LoopbackListener: Sendable {
    let descriptor: Int32
    let port: UInt16

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw CLITestFailure("socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, size) == 0 && listen(descriptor, 8) == 0 && getsockname(descriptor, $0, &size) == 0
            }
        }
        guard listening else {
            close(descriptor)
            throw CLITestFailure("cannot listen on 127.0.0.1")
        }
        self.descriptor = descriptor
        port = UInt16(bigEndian: address.sin_port)
    }

    deinit {
        // Wakes an accept() blocked on another thread (Linux), then frees the port.
        shutdown(descriptor, Int32(SHUT_RDWR))
        close(descriptor)
    }
}
