import Foundation
import GRDB
import Synchronization
import TokenKeeper

/// Opens and creates ``SQLiteStore`` files: the embedded default backend.
package struct SQLiteBackend: StoreBackend {
    package var busyTimeout: Duration

    package init(busyTimeout: Duration = SQLiteStore.defaultBusyTimeout) {
        self.busyTimeout = busyTimeout
    }

    package func open(at location: String, readOnly: Bool) throws -> any TokenStore {
        try SQLiteStore.open(at: location, readOnly: readOnly, busyTimeout: busyTimeout)
    }

    package func openIfPresent(at location: String) throws -> (any TokenStore)? {
        FileSystem.exists(location) ? try SQLiteStore.open(at: location, busyTimeout: busyTimeout) : nil
    }

    package func create(at location: String) throws -> any TokenStore {
        try SQLiteStore.create(at: location, busyTimeout: busyTimeout)
    }
}

/// The SQLite file that holds tokens, the audit log and the key check.
///
/// A `DatabasePool` in WAL mode with `synchronous=NORMAL` and a busy timeout: readers never
/// block the writer, and several processes share one file safely. The only code that knows SQL
/// or GRDB: the domain reaches it through ``TokenStore``.
package final class SQLiteStore: TokenStore {
    package let path: String
    /// The GRDB pool, for this target and for tests that reach under the seam on purpose.
    package let pool: DatabasePool
    /// The file opened, to notice when it is deleted or replaced under a long-running daemon.
    private let identity: FileIdentity?
    /// Seals the chain's head after each write that appends (``TokenStore/bind(to:)``).
    private let sealer = Mutex<TokenSealer?>(nil)

    /// The default time a write waits for another process's transaction.
    package static let defaultBusyTimeout: Duration = .seconds(5)

    private init(path: String, pool: DatabasePool) {
        self.path = path
        self.pool = pool
        identity = FileIdentity(path: path)
    }

    package var location: String { path }

    package var folder: String? {
        path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
    }

    /// Nil when the database still answers at the path it was opened from; else what is wrong
    /// (for `/healthz`: an open connection keeps answering from a file that was deleted).
    package func healthProblem() -> String? {
        guard let current = FileIdentity(path: path), current == identity else {
            return "the database file \(path) is gone or was replaced"
        }
        do {
            _ = try withDatabaseErrors {
                try pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM sqlite_master") }
            }
        } catch {
            return "\(error)"
        }
        return nil
    }

    /// Opens an existing database, bringing its schema up to date.
    ///
    /// `readOnly` opens without a writer: such a store never writes a byte (GRDB's WAL set-up
    /// writes when the -wal file is missing), so `list` and `check` never wait on a writer and
    /// work on a file they may only read.
    package static func open(
        at path: String,
        readOnly: Bool = false,
        busyTimeout: Duration = defaultBusyTimeout
    ) throws -> SQLiteStore {
        guard FileSystem.exists(path) else {
            throw TokenKeeperError(
                .databaseMissing,
                "no database at \(path) (run `tokenkeeper init`, or point --db or TOKENKEEPER_DB at it)"
            )
        }
        try checkModes(path)
        let store = try connect(path: path, readOnly: readOnly, busyTimeout: busyTimeout)
        try store.migrate(creating: false, readOnly: readOnly)
        return store
    }

    /// The database and its -wal and -shm files (SQLite gives them the database's mode) under
    /// ``FileModes``' rule for a store.
    private static func checkModes(_ path: String) throws {
        for file in [path, path + "-wal", path + "-shm"] { try FileModes.check(file, .store) }
    }

    /// Creates the database file (0600, parent folder 0700) and its schema. Returns nil when a
    /// tokenkeeper database already exists there.
    package static func create(at path: String, busyTimeout: Duration = defaultBusyTimeout) throws -> SQLiteStore {
        try FileSystem.createParentDirectory(of: path)
        // SQLite gives the -wal and -shm files the permissions of the database file, which is
        // created 0600 here, also at the end of a dangling symlink.
        try FileSystem.createPrivateFile(at: path, followingLinks: true)
        try checkModes(path)
        let store = try connect(path: path, readOnly: false, busyTimeout: busyTimeout)
        try store.migrate(creating: true, readOnly: false)
        return store
    }

    private static func connect(path: String, readOnly: Bool, busyTimeout: Duration) throws -> SQLiteStore {
        var configuration = Configuration()
        configuration.readonly = readOnly
        configuration.busyMode = .timeout(busyTimeout.timeInterval)
        configuration.maximumReaderCount = 4
        if !readOnly {
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
        }
        do {
            let pool = try DatabasePool(path: path, configuration: configuration)
            return SQLiteStore(path: path, pool: pool)
        } catch {
            throw mapDatabaseError(error, path: path)
        }
    }

    private func migrate(creating: Bool, readOnly: Bool) throws {
        let migrator = SQLiteMigrations.migrator
        try withDatabaseErrors {
            // One read answers every question, so a command that finds the schema current (the
            // usual case) pays for a single transaction at start-up.
            let (superseded, complete, isOurs) = try pool.read { db in
                (
                    try migrator.hasBeenSuperseded(db), try migrator.hasCompletedMigrations(db),
                    try db.tableExists("grdb_migrations")
                )
            }
            if superseded {
                throw TokenKeeperError(
                    .database,
                    "\(path) was written by a newer tokenkeeper; upgrade this binary before using it"
                )
            }
            if complete { return }
            if !creating, !isOurs {
                throw TokenKeeperError(
                    .database,
                    "\(path) is an SQLite file but not a tokenkeeper database (run `tokenkeeper init` on a new path)"
                )
            }
            guard !readOnly else {
                throw TokenKeeperError(
                    .database,
                    "\(path) needs a schema upgrade; run a command that writes (such as `tokenkeeper init`) first"
                )
            }
            try migrator.migrate(pool)
        }
    }

    /// Runs `body` in a read transaction, turning database failures into ``TokenKeeperError``.
    package func read<T>(_ body: (any StoreReading) throws -> T) throws -> T {
        try withDatabaseErrors { try pool.read { try body(SQLiteTransaction($0)) } }
    }

    package func installAuditSealer(_ sealer: TokenSealer) {
        self.sealer.withLock { $0 = sealer }
    }

    /// Runs `body` in an immediate write transaction, turning failures into ``TokenKeeperError``;
    /// when it appended to the audit chain, the new head's seal is stored before the commit.
    package func write<T>(bulk: Bool, _ body: (any StoreWriting) throws -> T) throws -> T {
        let sealer = sealer.withLock { $0 }
        return try withDatabaseErrors {
            try pool.write { db in
                let transaction = SQLiteTransaction(db, appended: AppendedRange())
                let result: T
                if bulk {
                    // One transaction holds every row: give SQLite room so pages are not spilled to
                    // the WAL and read back while the indexes grow (bounded, whatever the file's size).
                    let cacheSize = try Int.fetchOne(db, sql: "PRAGMA cache_size") ?? -2_000
                    try db.execute(sql: "PRAGMA cache_size = -262144")
                    defer { try? db.execute(sql: "PRAGMA cache_size = \(cacheSize)") }
                    result = try body(transaction)
                } else {
                    result = try body(transaction)
                }
                if let sealer, let start = transaction.appended?.start, let end = transaction.appended?.end,
                    let seal = sealer.nextSeal(stored: try transaction.auditSeal(), from: start, to: end)
                {
                    try transaction.setAuditSeal(seal)
                }
                return result
            }
        }
    }

    /// Runs `body` on the GRDB connection in a write transaction: for tests that reach under the
    /// seam on purpose (to tamper with a row, hold a lock, add a trigger). The domain never does.
    package func database<T>(_ body: (Database) throws -> T) throws -> T {
        try withDatabaseErrors { try pool.write(body) }
    }

    private func withDatabaseErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw Self.mapDatabaseError(error, path: path)
        }
    }

    package func mapError(_ error: any Error) -> TokenKeeperError {
        Self.mapDatabaseError(error, path: path)
    }

    static func mapDatabaseError(_ error: any Error, path: String) -> TokenKeeperError {
        if let error = error as? TokenKeeperError { return error }
        guard let error = error as? DatabaseError else {
            return TokenKeeperError(.database, "database \(path): \(error)")
        }
        let detail = error.message ?? "\(error.resultCode)"
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return TokenKeeperError(
                .databaseLocked,
                "database \(path) is locked by another process past the busy timeout; try again",
                underlying: error
            )
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            return TokenKeeperError(
                .database,
                "database \(path) is corrupt or not an SQLite file (\(detail)); restore it from a backup",
                underlying: error
            )
        case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_AUTH:
            return TokenKeeperError(
                .database,
                "cannot open database \(path) (\(detail)); check the path and its permissions",
                underlying: error
            )
        case .SQLITE_READONLY:
            return TokenKeeperError(
                .database,
                "database \(path) is read-only for this user (\(detail))",
                underlying: error
            )
        case .SQLITE_FULL, .SQLITE_IOERR:
            // Only this transaction is undone: a command that committed others says so itself.
            return TokenKeeperError(
                .database,
                "database \(path): \(detail); this write was rolled back",
                underlying: error
            )
        default:
            return TokenKeeperError(.database, "database \(path): \(detail)", underlying: error)
        }
    }
}

/// A file's device and inode.
struct FileIdentity: Equatable {
    let device: UInt64
    let inode: UInt64

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}
