import FakeSinch
import Foundation
import Testing
import TokenKeeper
import TokenKeeperPostgres
import TokenKeeperSQLite
import TokenKeeperTesting

/// The stores a suite runs against: SQLite always, PostgreSQL when `scripts/test` started a
/// throwaway server (`TOKENKEEPER_TEST_POSTGRES_URL`, <doc:Architecture#How-it-is-tested>).
enum TestBackend: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// Every backend this run can reach. `TOKENKEEPER_TEST_REQUIRE_POSTGRES=1` (set by
    /// `scripts/test`) makes a missing server an error instead of a skip.
    static var all: [TestBackend] {
        if TestPostgres.server != nil { return [.sqlite, .postgres] }
        precondition(
            ProcessInfo.processInfo.environment["TOKENKEEPER_TEST_REQUIRE_POSTGRES"] != "1",
            "TOKENKEEPER_TEST_REQUIRE_POSTGRES=1 but TOKENKEEPER_TEST_POSTGRES_URL is not set"
        )
        return [.sqlite]
    }
}

/// The throwaway PostgreSQL server of this test run, and a fresh database on it for each test.
enum TestPostgres {
    struct Server: Sendable {
        /// The test role's URL (no password) and password.
        var url: String
        var password: String
        var adminURL: String
        var adminPassword: String
        var environment: [String: String]
    }

    /// The authority of the run's server certificate (for 127.0.0.1), when it serves TLS.
    static let authority: String? = ProcessInfo.processInfo.environment["TOKENKEEPER_TEST_POSTGRES_CA"]

    static let server: Server? = {
        let environment = ProcessInfo.processInfo.environment
        guard let url = environment["TOKENKEEPER_TEST_POSTGRES_URL"], !url.isEmpty else { return nil }
        return Server(
            url: url,
            password: environment["TOKENKEEPER_TEST_POSTGRES_PASSWORD"] ?? "",
            adminURL: environment["TOKENKEEPER_TEST_POSTGRES_ADMIN_URL"] ?? url,
            adminPassword: environment["TOKENKEEPER_TEST_POSTGRES_ADMIN_PASSWORD"] ?? "",
            environment: environment.filter { $0.key.hasPrefix("TOKENKEEPER_TEST_POSTGRES_") }
        )
    }()

    /// Creates an empty database owned by the test role; its URL (no password in it).
    static func freshDatabase() throws -> String {
        guard let server else { throw CLITestFailure("no PostgreSQL server for this run") }
        let name = "tk_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        try psql(server.adminURL, password: server.adminPassword, "CREATE DATABASE \(name) OWNER tokenkeeper")
        return replacingDatabase(in: server.url, with: String(name))
    }

    /// `url` naming `database` instead of its own.
    static func replacingDatabase(in url: String, with database: String) -> String {
        var components = URLComponents(string: url)!
        components.path = "/" + database
        return components.string!
    }

    /// Runs `sql` with psql against `url`; its output.
    @discardableResult
    static func psql(_ url: String, password: String, _ sql: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql]
        var environment = ProcessInfo.processInfo.environment
        environment["PGPASSWORD"] = password
        process.environment = environment
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let problem = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CLITestFailure("psql failed: \(problem)") }
        return text
    }

    /// Runs `sql` as the test role on the database of `url`, under the seam (to tamper or look).
    @discardableResult
    static func sql(_ url: String, _ sql: String) throws -> String {
        try psql(url, password: server?.password ?? "", sql)
    }
}

extension TestBackend {
    /// A new, empty store of this backend: an SQLite file in `directory`, or a fresh database.
    func makeStore(in directory: TemporaryDirectory) throws -> (store: any TokenStore, location: String) {
        switch self {
        case .sqlite:
            let path = directory.file("state/tokenkeeper.sqlite")
            return (try SQLiteStore.create(at: path), path)
        case .postgres:
            let url = try TestPostgres.freshDatabase()
            let store = try PostgresBackend(password: TestPostgres.server?.password).create(at: url)
            return (store, url)
        }
    }
}

extension CLISandbox {
    /// The sandbox's store, opened read-only with the key file its CLI uses (its own, or the one
    /// TOKENKEEPER_MASTER_KEY_FILE names): what `get` opens, unaudited.
    func keyedInventory() throws -> Inventory {
        let store: any TokenStore
        switch backend {
        case .sqlite: store = try SQLiteStore.open(at: databasePath, readOnly: true)
        case .postgres:
            store = try PostgresBackend(password: cli.environment["PGPASSWORD"]).open(
                at: databaseLocation,
                readOnly: true
            )
        }
        let configuration = TokenKeeperConfiguration(
            databasePath: databaseLocation,
            masterKeyFile: cli.environment["TOKENKEEPER_MASTER_KEY_FILE"] ?? keyFilePath
        )
        return Inventory(
            store: store,
            policy: RenewalPolicy(),
            actor: "test",
            sealer: TokenSealer(keyring: try Keyring.load(from: configuration))
        )
    }

    /// Opens every stored record in process (at once: `get` runs are slow in a busy suite) and
    /// expects FakeSinch to accept each value; how many records it opened.
    func expectEveryTokenLive(at fake: FakeSinch, _ context: String = "") throws -> Int {
        let inventory = try keyedInventory()
        var opened = 0
        try inventory.forEachToken(matching: .init()) { record in
            let value = try inventory.unsealed(record)
            #expect(fake.isValid(value), "\(context)\(record.id) holds a dead token")
            opened += 1
        }
        return opened
    }
}
