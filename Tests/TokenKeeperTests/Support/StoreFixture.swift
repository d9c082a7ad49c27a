import Foundation
import GRDB
import TokenKeeper
import TokenKeeperSQLite
import TokenKeeperTesting

/// A real store (an SQLite file in a temp folder, or a fresh database on the run's PostgreSQL
/// server), a fresh master key and a manual clock.
struct StoreFixture {
    let directory = TemporaryDirectory()
    let clock = ManualClock()
    let key = MasterKey.generate()
    let backend: TestBackend
    let store: any TokenStore
    /// The SQLite file's path, or the database's URL (no password).
    let location: String
    let inventory: Inventory

    /// The SQLite file's path (SQLite fixtures only).
    var databasePath: String { directory.file("state/tokenkeeper.sqlite") }

    /// The store as SQLite, for tests that reach under the seam on purpose (SQLite fixtures only).
    var sqlite: SQLiteStore { store as! SQLiteStore }

    init(_ backend: TestBackend = .sqlite, policy: RenewalPolicy = RenewalPolicy()) throws {
        self.backend = backend
        (store, location) = try backend.makeStore(in: directory)
        let sealer = TokenSealer(masterKey: key)
        try store.bind(to: sealer)
        inventory = Inventory(store: store, policy: policy, clock: clock, actor: "test:1", sealer: sealer)
    }

    /// Runs `sql` under the seam on purpose (to tamper with a row), on either backend.
    func underTheSeam(_ sql: String) throws {
        switch backend {
        case .sqlite: try sqlite.database { try $0.execute(sql: sql) }
        case .postgres: try TestPostgres.sql(location, sql)
        }
    }

    /// Imports `text` as JSON Lines through a pipe, as `tokenkeeper import -` would.
    func importLines(_ text: String, batchSize: Int = 4_096) throws -> ImportSummary {
        let path = directory.file("import-\(UUID().uuidString).jsonl")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let descriptor = open(path, O_RDONLY)
        defer { close(descriptor) }
        return try inventory.importTokens(from: descriptor, batchSize: batchSize)
    }

    func allTokens() throws -> [TokenRecord] {
        var records: [TokenRecord] = []
        try inventory.forEachToken(matching: .init()) { records.append($0) }
        return records
    }

    func auditEvents() throws -> [AuditRecord] {
        var records: [AuditRecord] = []
        try inventory.forEachAuditEvent(matching: .init()) { records.append($0) }
        return records
    }
}
