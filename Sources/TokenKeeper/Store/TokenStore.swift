import Foundation
import GRDB

/// The SQLite file that holds tokens, the audit log and the key check.
///
/// A `DatabasePool` in WAL mode with `synchronous=NORMAL` and a busy timeout: readers never
/// block the writer, and several processes share one file safely.
package final class TokenStore: Sendable {
    package let path: String
    let pool: DatabasePool
    /// The file opened, to notice when it is deleted or replaced under a long-running daemon.
    private let identity: FileIdentity?

    /// The default time a write waits for another process's transaction.
    package static let defaultBusyTimeout: Duration = .seconds(5)

    private init(path: String, pool: DatabasePool) {
        self.path = path
        self.pool = pool
        identity = FileIdentity(path: path)
    }

    /// Nil when the database still answers at the path it was opened from; else what is wrong
    /// (for `/healthz`: an open connection keeps answering from a file that was deleted).
    package func healthProblem() -> String? {
        guard let current = FileIdentity(path: path), current == identity else {
            return "the database file \(path) is gone or was replaced"
        }
        do {
            _ = try read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM sqlite_master") }
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
    ) throws -> TokenStore {
        guard FileSystem.exists(path) else {
            throw TokenKeeperError(
                .databaseMissing,
                "no database at \(path) (run `tokenkeeper init`, or point --db or TOKENKEEPER_DB at it)"
            )
        }
        let store = try connect(path: path, readOnly: readOnly, busyTimeout: busyTimeout)
        try store.migrate(creating: false, readOnly: readOnly)
        return store
    }

    /// Creates the database file (0600, parent folder 0700) and its schema. Returns nil when a
    /// tokenkeeper database already exists there.
    package static func create(at path: String, busyTimeout: Duration = defaultBusyTimeout) throws -> TokenStore {
        try FileSystem.createParentDirectory(of: path)
        // SQLite gives the -wal and -shm files the permissions of the database file.
        try FileSystem.createPrivateFile(at: path)
        let store = try connect(path: path, readOnly: false, busyTimeout: busyTimeout)
        try store.migrate(creating: true, readOnly: false)
        return store
    }

    private static func connect(path: String, readOnly: Bool, busyTimeout: Duration) throws -> TokenStore {
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
            return TokenStore(path: path, pool: pool)
        } catch {
            throw mapDatabaseError(error, path: path)
        }
    }

    private func migrate(creating: Bool, readOnly: Bool) throws {
        let migrator = Migrations.migrator
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
    package func read<T>(_ body: (Database) throws -> T) throws -> T {
        try withDatabaseErrors { try pool.read(body) }
    }

    /// Runs `body` in an immediate write transaction, turning failures into ``TokenKeeperError``.
    package func write<T>(_ body: (Database) throws -> T) throws -> T {
        try withDatabaseErrors { try pool.write(body) }
    }

    private func withDatabaseErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw Self.mapDatabaseError(error, path: path)
        }
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

// MARK: - The key check

extension TokenStore {
    /// Stores the key check of a new database, or verifies it against the stored one.
    ///
    /// Every command that seals or opens a token calls this before it writes anything, so a
    /// wrong key is caught before it can seal a token no one could open.
    package func bind(to sealer: TokenSealer, source: MasterKey.Source) throws {
        let stored = try read(Self.storedKeyCheck)
        if let stored {
            guard stored == sealer.keyCheck else {
                throw TokenKeeperError(
                    .wrongKey,
                    "the master key from \(source) does not match this database (\(path)); nothing was written"
                )
            }
            return
        }
        try write { db in
            guard try Self.storedKeyCheck(db) == nil else { return }
            // A database with sealed tokens but no key check was not made by us: refuse to guess.
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM tokens") == 0 else {
                throw TokenKeeperError(.database, "database \(path) has tokens but no key check; it was altered")
            }
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('key_check', ?)", arguments: [sealer.keyCheck])
        }
        // Another process may have bound a different key between our read and our write.
        guard try read(Self.storedKeyCheck) == sealer.keyCheck else {
            throw TokenKeeperError(
                .wrongKey,
                "the master key from \(source) does not match this database (\(path)); nothing was written"
            )
        }
    }

    private static func storedKeyCheck(_ db: Database) throws -> String? {
        try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'key_check'")
    }

    /// Whether a key has been bound to this database.
    package func hasKeyCheck() throws -> Bool {
        try read { db in try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM meta WHERE key = 'key_check')") }
            ?? false
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
