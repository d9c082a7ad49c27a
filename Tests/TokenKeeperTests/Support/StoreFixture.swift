import Foundation
import TokenKeeper
import TokenKeeperSQLite
import TokenKeeperTesting

/// A real SQLite file in a temp folder, a fresh master key and a manual clock.
struct StoreFixture {
    let directory = TemporaryDirectory()
    let clock = ManualClock()
    let key = MasterKey.generate()
    let store: SQLiteStore
    let inventory: Inventory

    var databasePath: String { directory.file("state/tokenkeeper.sqlite") }

    init(policy: RenewalPolicy = RenewalPolicy()) throws {
        store = try SQLiteStore.create(at: directory.file("state/tokenkeeper.sqlite"))
        let sealer = TokenSealer(masterKey: key)
        try store.bind(to: sealer, source: key.source)
        inventory = Inventory(store: store, policy: policy, clock: clock, actor: "test:1", sealer: sealer)
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
