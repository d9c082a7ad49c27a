import Foundation
import TokenKeeper
import TokenKeeperPostgres
import TokenKeeperSQLite

/// Which store the configuration names: a `postgres://` URL (any case) is a PostgreSQL server
/// (TokenKeeperPostgres), another URL is refused, anything else is an SQLite file (TokenKeeperSQLite).
enum StoreChoice {
    static func backend(
        for configuration: TokenKeeperConfiguration,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> any StoreBackend {
        try backend(at: configuration.databasePath, configuration, environment: environment)
    }

    /// The backend for `location`; a server's password comes from `passwordFile` when given,
    /// else as for the configured store.
    static func backend(
        at location: String,
        _ configuration: TokenKeeperConfiguration,
        passwordFile: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> any StoreBackend {
        guard DatabaseLocation.isURL(location) else { return SQLiteBackend() }
        guard DatabaseLocation.isPostgresURL(location) else {
            // Only the scheme is quoted: the rest of a URL may hold a password.
            throw TokenKeeperError(
                .usage,
                "the database URL is not usable: its scheme \(DatabaseLocation.scheme(of: location) ?? "") is not "
                    + "postgres:// or postgresql:// (an SQLite store is named by its file's path)"
            )
        }
        var configuration = configuration
        if let passwordFile { configuration.database.passwordFile = passwordFile }
        return PostgresBackend(
            password: try password(configuration, environment: passwordFile == nil ? environment : [:]),
            timeouts: PostgresTimeouts(
                connect: configuration.database.connectTimeout,
                statement: configuration.database.statementTimeout
            )
        )
    }

    /// The server's password when the URL has none: `PGPASSWORD`, else the first line of
    /// `database.password_file`.
    static func password(_ configuration: TokenKeeperConfiguration, environment: [String: String]) throws -> String? {
        if let password = environment["PGPASSWORD"], !password.isEmpty { return password }
        guard let file = configuration.database.passwordFile else { return nil }
        try FileModes.check(file, .passwordFile)
        guard let data = FileManager.default.contents(atPath: file) else {
            throw TokenKeeperError(
                .configuration,
                "database.password_file \(file) does not exist or is not readable (check its permissions)"
            )
        }
        let line = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init)
        guard let line, !line.isEmpty else {
            throw TokenKeeperError(.configuration, "database.password_file \(file) is empty")
        }
        return line
    }

    /// `--db` with a password in its URL: refused, since every user of the machine can read a
    /// process's arguments.
    static func refusePasswordInArguments(_ database: String?, option: String = "--db") throws {
        guard let database, DatabaseLocation.hasPassword(database) else { return }
        throw TokenKeeperError(
            .usage,
            "\(option) must not carry a password: every user of this machine can read a command line; "
                + "give it in PGPASSWORD, in database.password_file, or in the URL in TOKENKEEPER_DB or the config file"
        )
    }
}
