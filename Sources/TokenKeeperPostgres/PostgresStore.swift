import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import Synchronization
import TokenKeeper

/// How long a PostgreSQL store waits: for a connection, and for one statement's answer.
package struct PostgresTimeouts: Sendable, Equatable {
    package var connect: Duration
    package var statement: Duration

    package init(connect: Duration = .seconds(10), statement: Duration = .seconds(30)) {
        self.connect = connect
        self.statement = statement
    }
}

/// Opens and creates ``PostgresStore``s from `postgres://` URLs.
package struct PostgresBackend: StoreBackend {
    /// The password when the URL has none: `PGPASSWORD`, else the `database.password_file`.
    package var password: String?
    package var timeouts: PostgresTimeouts

    package init(password: String? = nil, timeouts: PostgresTimeouts = PostgresTimeouts()) {
        self.password = password
        self.timeouts = timeouts
    }

    package func open(at location: String, readOnly: Bool) throws -> any TokenStore {
        let store = try connect(location)
        guard try store.migrate(creating: false, readOnly: readOnly) else {
            throw TokenKeeperError(
                .databaseMissing,
                "no tokenkeeper schema in \(store.location) (run `tokenkeeper init` to create it)"
            )
        }
        return store
    }

    package func openIfPresent(at location: String) throws -> (any TokenStore)? {
        let store = try connect(location)
        return try store.migrate(creating: false, readOnly: false) ? store : nil
    }

    package func create(at location: String) throws -> any TokenStore {
        let store = try connect(location)
        _ = try store.migrate(creating: true, readOnly: false)
        return store
    }

    private func connect(_ text: String) throws -> PostgresStore {
        let url = try PostgresLocation(text)
        let store = try PostgresStore(url: url, password: url.password ?? password, timeouts: timeouts)
        try store.probe()
        return store
    }
}

/// The store on a PostgreSQL server, for several daemons on several hosts sharing one database.
///
/// A `PostgresClient` (postgres-nio's connection pool) whose tasks all run on ``PostgresThread``;
/// each transaction holds one connection for its length. Reads run in `REPEATABLE READ READ ONLY`
/// transactions (one snapshot, as SQLite's reads); writes in `READ COMMITTED`, where the lease
/// and version checks of every UPDATE and the chain head's row lock keep hosts from stepping on
/// each other (<doc:Architecture#The-store-seam>).
package final class PostgresStore: TokenStore {
    package let url: PostgresLocation
    let client: PostgresClient
    let timeouts: PostgresTimeouts
    private let password: String?
    private let running: Task<Void, Never>
    /// Seals the chain's head in each write that appends (``TokenStore/bind(to:)``).
    let sealer = Mutex<TokenSealer?>(nil)

    package func installAuditSealer(_ sealer: TokenSealer) {
        self.sealer.withLock { $0 = sealer }
    }

    package var location: String { url.redacted }
    /// A database server has no folder on this host.
    package var folder: String? { nil }

    /// `password`: the URL's, or one from elsewhere (which ``location`` does not mention).
    init(url: PostgresLocation, password: String?, timeouts: PostgresTimeouts) throws {
        self.url = url
        self.timeouts = timeouts
        self.password = password
        var configuration = PostgresClient.Configuration(
            host: url.host,
            port: url.port,
            username: url.user,
            password: password,
            database: url.database,
            tls: try Self.tls(url)
        )
        configuration.options.connectTimeout = timeouts.connect
        configuration.options.maximumConnections = 8
        configuration.options.additionalStartupParameters = [
            ("application_name", url.applicationName),
            // The server ends a statement that runs too long; the client gives up a little later.
            ("statement_timeout", "\(timeouts.statement.wholeMilliseconds)"),
        ]
        let client = PostgresClient(
            configuration: configuration,
            backgroundLogger: Logger(label: "tokenkeeper.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        self.client = client
        running = Task(executorPreference: PostgresThread.shared) { await client.run() }
    }

    deinit { running.cancel() }

    /// Connects once outside the pool: the pool retries a failed connection quietly, so a wrong
    /// password or a server that refuses would only show as a timeout. This says what it was.
    func probe(within limit: Duration? = nil) throws {
        let limit = limit ?? timeouts.connect
        var configuration = PostgresConnection.Configuration(
            host: url.host,
            port: url.port,
            username: url.user,
            password: password,
            database: url.database,
            tls: try Self.connectionTLS(url)
        )
        configuration.options.connectTimeout = .nanoseconds(Int64(limit.wholeMilliseconds) * 1_000_000)
        configuration.options.additionalStartupParameters = [("application_name", url.applicationName)]
        let logger = PostgresTransaction.logger
        let settings = configuration
        do {
            try PostgresThread.shared.run(within: limit + .seconds(5)) {
                let connection = try await PostgresConnection.connect(configuration: settings, id: 0, logger: logger)
                try await connection.close()
            }
        } catch {
            throw mapError(error)
        }
    }

    private static func connectionTLS(_ url: PostgresLocation) throws -> PostgresConnection.Configuration.TLS {
        guard url.sslMode != .disable else { return .disable }
        let context = try NIOSSLContext(configuration: try tlsConfiguration(url))
        return url.sslMode == .prefer ? .prefer(context) : .require(context)
    }

    private static func tls(_ url: PostgresLocation) throws -> PostgresClient.Configuration.TLS {
        guard url.sslMode != .disable else { return .disable }
        let configuration = try tlsConfiguration(url)
        return url.sslMode == .prefer ? .prefer(configuration) : .require(configuration)
    }

    /// `sslmode` as libpq reads it: `prefer` and `require` encrypt without checking the
    /// certificate, `verify-ca` checks it against `sslrootcert` (or the system's authorities),
    /// `verify-full` checks the host name too.
    private static func tlsConfiguration(_ url: PostgresLocation) throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch url.sslMode {
        case .disable, .prefer, .require: configuration.certificateVerification = .none
        case .verifyCA: configuration.certificateVerification = .noHostnameVerification
        case .verifyFull: configuration.certificateVerification = .fullVerification
        }
        if let root = url.sslRootCert {
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(root))
            } catch {
                throw TokenKeeperError(.configuration, "sslrootcert \(root) is not a readable PEM certificate file")
            }
        }
        return configuration
    }

    /// Answers within about 2 s whatever the server does: a connection and each statement wait
    /// 1 s (a live server reads one row in milliseconds); the pool waits for a connection it
    /// cannot make, so a server that is gone is asked once more directly (1 s), which says why.
    package func healthProblem() -> String? {
        do {
            // A read of the tokens table's first row: the server answers and the schema is there,
            // at no cost that grows with the store.
            _ = try transaction(readOnly: true, connectWithin: Self.healthTimeout, answerWithin: Self.healthTimeout) {
                try $0.earliestExpiry(.all)
            }
            return nil
        } catch let error as TokenKeeperError {
            guard error.underlying is PostgresTimeout else { return error.message }
            do {
                try probe(within: Self.healthTimeout)
                return error.message
            } catch let reason as TokenKeeperError {
                return reason.message
            } catch {
                return "\(error)"
            }
        } catch {
            return "\(error)"
        }
    }

    static let healthTimeout: Duration = .seconds(1)

    package func read<T>(_ body: (any StoreReading) throws -> T) throws -> T {
        try transaction(readOnly: true) { try body($0) }
    }

    package func write<T>(bulk: Bool, _ body: (any StoreWriting) throws -> T) throws -> T {
        try transaction(readOnly: false) { try body($0) }
    }

    /// The statement alone: it is its own transaction on the server.
    package func writeStatement<T>(_ body: (any StoreWriting) throws -> T) throws -> T {
        try transaction(readOnly: false, alone: true) { try body($0) }
    }

    /// Runs `body` in a transaction on one leased connection; commits when it returns.
    /// A read is `REPEATABLE READ READ ONLY` (one snapshot), a write `READ COMMITTED`; `alone`
    /// sends `body`'s one statement with no `BEGIN` and `COMMIT` around it. Each round trip waits
    /// at most `answerLimit` (default: past `database.statement_timeout`), and no longer than
    /// the connection lives.
    func transaction<T>(
        readOnly: Bool,
        alone: Bool = false,
        connectWithin connectLimit: Duration? = nil,
        answerWithin answerLimit: Duration? = nil,
        _ body: (PostgresTransaction) throws -> T
    ) throws -> T {
        let lease: PostgresConnectionLease
        do {
            lease = try PostgresConnectionLease.acquire(from: client, within: connectLimit ?? timeouts.connect)
        } catch {
            throw mapError(error)
        }
        let transaction = PostgresTransaction(
            connection: lease.connection,
            timeout: answerLimit ?? timeouts.statement + .seconds(5),
            writable: !readOnly
        )
        if !readOnly, let sealer = sealer.withLock({ $0 }) { transaction.sealing = PostgresSealing(sealer: sealer) }
        do {
            if !alone {
                try transaction.execute(readOnly ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN")
            }
            let value = try body(transaction)
            if alone { try transaction.sendQueued() } else { try transaction.commit() }
            lease.release()
            return value
        } catch {
            // A connection the server ended (an administrator's or a shutdown's FATAL, class 57;
            // a connection failure, class 08) may still look open: closed, never lent again.
            let state = (error as? PSQLError)?.serverInfo?[.sqlState] ?? ""
            let ended = !state.hasPrefix("57") && !state.hasPrefix("08") && transaction.rollBack()
            lease.release(broken: !ended)
            throw mapError(error)
        }
    }

    /// Brings the schema up to date under an advisory lock, so hosts that start together apply
    /// each migration once. False when the database has no tokenkeeper schema and `creating` is
    /// not set (nothing is written then).
    func migrate(creating: Bool, readOnly: Bool) throws -> Bool {
        let known = PostgresSchema.migrations.map(\.name)
        let applied = try transaction(readOnly: true) {
            try $0.appliedMigrations()
        }
        guard let applied else {
            guard creating else { return false }
            try applyMigrations()
            return true
        }
        if !Set(applied).isSubset(of: known) {
            throw TokenKeeperError(
                .database,
                "\(location) was written by a newer tokenkeeper; upgrade this binary before using it"
            )
        }
        if applied.count == known.count { return true }
        guard !readOnly else {
            throw TokenKeeperError(
                .database,
                "\(location) needs a schema upgrade; run a command that writes (such as `tokenkeeper init`) first"
            )
        }
        try applyMigrations()
        return true
    }

    private func applyMigrations() throws {
        try transaction(readOnly: false) { transaction in
            try transaction.execute("SELECT pg_advisory_xact_lock(\(PostgresSchema.migrationLock))")
            try transaction.execute(
                "CREATE TABLE IF NOT EXISTS tokenkeeper_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)"
            )
            let applied = Set(try transaction.appliedMigrations() ?? [])
            for migration in PostgresSchema.migrations where !applied.contains(migration.name) {
                for statement in migration.statements { try transaction.execute(PostgresQuery(unsafeSQL: statement)) }
                try transaction.execute(
                    "INSERT INTO tokenkeeper_migrations (name, applied_at) VALUES (\(migration.name), \(Int64(Date().timeIntervalSince1970)))"
                )
            }
        }
    }
}

extension Duration {
    var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000 + attoseconds / 1_000_000_000_000_000
    }
}
