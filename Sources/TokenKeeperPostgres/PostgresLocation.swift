import Foundation
import TokenKeeper

/// A `postgres://` or `postgresql://` URL, as `--db`, `TOKENKEEPER_DB` and `database` take it:
/// user, password, host, port, database, and the `sslmode`, `sslrootcert` and `application_name`
/// parameters (<doc:CLIContract#PostgreSQL>).
///
/// Defaults are libpq's: port 5432, the operating-system user, a database named after the user,
/// `sslmode=prefer`. The password is never part of ``redacted``, the form every message shows.
package struct PostgresLocation: Sendable, Equatable {
    package enum SSLMode: String, Sendable, CaseIterable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    package var host: String
    package var port: Int
    package var user: String
    package var password: String?
    package var database: String
    package var sslMode: SSLMode
    package var sslRootCert: String?
    package var applicationName: String

    /// Whether `text` names a PostgreSQL store rather than an SQLite file (any case of the scheme).
    package static func isURL(_ text: String) -> Bool { DatabaseLocation.isPostgresURL(text) }

    /// Parses `text`; a clear error (exit 64) naming what is wrong, never the password.
    package init(_ text: String, defaultUser: String = CommandContext.userName()) throws {
        guard Self.isURL(text) else { throw Self.invalid("it does not start with postgres:// or postgresql://") }
        guard let components = URLComponents(string: text) else {
            throw Self.invalid("it is not a valid URL (a character in it needs percent-encoding?)")
        }
        guard let host = components.host, !host.isEmpty else { throw Self.invalid("it names no host") }
        // URLComponents keeps an IPv6 literal's brackets.
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        port = components.port ?? 5432
        guard (1...65_535).contains(port) else { throw Self.invalid("its port is out of range") }
        user = components.user?.removingPercentEncoding ?? defaultUser
        password = components.password?.removingPercentEncoding
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.contains("/") else { throw Self.invalid("its path must be just a database name") }
        database = path.removingPercentEncoding.flatMap { $0.isEmpty ? nil : $0 } ?? user
        sslMode = .prefer
        sslRootCert = nil
        applicationName = "tokenkeeper"
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else {
                    throw Self.invalid(
                        "sslmode \(value) is not one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                sslMode = mode
            case "sslrootcert": sslRootCert = value
            case "application_name": applicationName = value
            default:
                throw Self.invalid(
                    "the parameter \(item.name) is not supported (sslmode, sslrootcert, application_name)"
                )
            }
        }
        if sslRootCert != nil, sslMode != .verifyCA, sslMode != .verifyFull {
            throw Self.invalid("sslrootcert is only used with sslmode=verify-ca or verify-full")
        }
    }

    /// The URL with its password left out: what messages, logs and `/healthz` show.
    package var redacted: String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.user = user
        if password != nil { components.password = "redacted" }
        components.host = host.contains(":") ? "[\(host)]" : host
        components.port = port
        components.path = "/" + database
        var items = [URLQueryItem(name: "sslmode", value: sslMode.rawValue)]
        if let sslRootCert { items.append(URLQueryItem(name: "sslrootcert", value: sslRootCert)) }
        components.queryItems = items
        return components.string ?? "postgres://\(host):\(port)/\(database)"
    }

    /// Whether the URL text carries a password (refused on the command line, where every user
    /// of the machine can read it).
    package static func hasPassword(_ text: String) -> Bool { DatabaseLocation.hasPassword(text) }

    private static func invalid(_ reason: String) -> TokenKeeperError {
        TokenKeeperError(.usage, "the database URL is not usable: \(reason)")
    }
}
