import Foundation
import NIOCore
import NIOSSL
import PostgresNIO
import TokenKeeper

/// PostgreSQL's errors as the domain's, and which of them may pass on a second try.
extension PostgresStore {
    /// A failed TLS handshake in words (BoringSSL's own text names a source file of the build).
    func tlsFailure(_ error: (any Error)?) -> String {
        let text = error.map { "\($0)" } ?? ""
        if text.contains("failedToValidateHostname") {
            return "the server's certificate does not name \(url.host) (sslmode=verify-full)"
        }
        guard text.contains("CERTIFICATE_VERIFY_FAILED") else { return "the TLS handshake failed" }
        let authority = url.sslRootCert.map { "sslrootcert \($0)" } ?? "the system's certificate authorities"
        return "the server's certificate is not signed by \(authority) (sslmode=\(url.sslMode.rawValue))"
    }

    static func isConnectTimeout(_ error: ChannelError) -> Bool {
        if case .connectTimeout = error { return true }
        return false
    }

    /// A busy database or a deadlock, and a connection lost or not answering, or ended by the
    /// server (SQLSTATE classes 57 and 08): a restarting server.
    package func isTransient(_ error: any Error) -> Bool {
        let mapped = mapError(error)
        if mapped.code == .databaseLocked { return true }
        let cause = mapped.underlying ?? error
        if cause is PostgresConnectionLost || cause is PostgresTimeout { return true }
        guard let failure = cause as? PSQLError else { return false }
        let state = failure.serverInfo?[.sqlState] ?? ""
        if state.hasPrefix("57") || state.hasPrefix("08") { return true }
        return failure.code == .connectionError || failure.code == .serverClosedConnection
    }

    /// A driver's error as the domain's, with the redacted URL and never a password; the
    /// driver's error stays its `underlying` (``isTransient(_:)`` reads it).
    package func mapError(_ error: any Error) -> TokenKeeperError {
        if let error = error as? TokenKeeperError { return error }
        let mapped = describe(error)
        guard mapped.underlying == nil else { return mapped }
        return TokenKeeperError(mapped.code, mapped.message, underlying: error)
    }

    private func describe(_ error: any Error) -> TokenKeeperError {
        if let timeout = error as? PostgresTimeout {
            return TokenKeeperError(
                .database,
                "database \(location): no answer within \(DurationText.format(timeout.limit)) (is the server up and reachable?)",
                underlying: timeout
            )
        }
        if let lost = error as? PostgresConnectionLost {
            return TokenKeeperError(
                .database,
                "database \(location): \(lost.description) (the server restarted or went away); try again",
                underlying: lost
            )
        }
        guard let error = error as? PSQLError else {
            return TokenKeeperError(.database, "database \(location): \(error)")
        }
        if let message = error.serverInfo?[.message] {
            let state = error.serverInfo?[.sqlState] ?? ""
            switch state {
            case "28P01", "28000":
                return TokenKeeperError(.database, "database \(location): \(message) (check the password)")
            case "3D000":
                return TokenKeeperError(.databaseMissing, "database \(location): \(message)")
            case "40001", "40P01", "55P03":
                return TokenKeeperError(.databaseLocked, "database \(location): \(message); try again")
            case "57014" where message.contains("statement timeout"):
                // Most often a lock another session holds, as SQLite's busy timeout.
                let limit = DurationText.format(timeouts.statement)
                return TokenKeeperError(
                    .databaseLocked,
                    "database \(location): a statement ran past database.statement_timeout (\(limit)); try again"
                )
            default:
                return TokenKeeperError(.database, "database \(location): \(message) (SQLSTATE \(state))")
            }
        }
        switch error.code {
        case .authMechanismRequiresPassword:
            return TokenKeeperError(
                .configuration,
                "database \(location): the server asks for a password and none was given; set PGPASSWORD, "
                    + "database.password_file (TOKENKEEPER_DB_PASSWORD_FILE), or the password in the URL of "
                    + "TOKENKEEPER_DB or the config file's database.path"
            )
        case .sslUnsupported:
            return TokenKeeperError(
                .database,
                "database \(location): the server does not offer TLS, which sslmode=\(url.sslMode.rawValue) requires"
            )
        case .connectionError where (error.underlying as? ChannelError).map(Self.isConnectTimeout) == true:
            let limit = DurationText.format(timeouts.connect)
            return TokenKeeperError(
                .database,
                "cannot reach PostgreSQL at \(location): no answer within database.connect_timeout (\(limit))"
            )
        case .connectionError where error.underlying is NIOSSLError:
            return TokenKeeperError(
                .database,
                "cannot reach PostgreSQL at \(location): \(tlsFailure(error.underlying))"
            )
        case .connectionError, .serverClosedConnection:
            let cause = error.underlying.map { " (\($0))" } ?? ""
            return TokenKeeperError(.database, "cannot reach PostgreSQL at \(location)\(cause)")
        default:
            return TokenKeeperError(.database, "database \(location): \(error.code)")
        }
    }
}
