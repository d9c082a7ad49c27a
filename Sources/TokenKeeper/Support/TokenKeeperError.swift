/// The one error type the library throws to its callers.
///
/// Each ``Code`` maps to one exit code of <doc:CLIContract#Exit-codes>; the message is a sentence an operator can
/// act on and never holds a token value.
package struct TokenKeeperError: Error, CustomStringConvertible, Sendable {
    /// A stable error code.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case usage
            case configuration
            case invalidInput
            case notFound
            case alreadyStored
            case sinchUnavailable
            case credentialsRefused
            case database
            case wrongKey
            case databaseLocked
            case databaseMissing
        }

        private let base: Base

        private init(_ base: Base) { self.base = base }

        /// A command line that cannot work as given.
        package static let usage = Code(.usage)
        /// A configuration value, file or master key that is missing or malformed.
        package static let configuration = Code(.configuration)
        /// Input data (a JSON line, a token, a time) that is malformed.
        package static let invalidInput = Code(.invalidInput)
        /// An id that names no stored token.
        package static let notFound = Code(.notFound)
        /// The token value is stored already, in another record.
        package static let alreadyStored = Code(.alreadyStored)
        /// Sinch could not be reached.
        package static let sinchUnavailable = Code(.sinchUnavailable)
        /// Sinch refused the credentials.
        package static let credentialsRefused = Code(.credentialsRefused)
        /// The database could not be read or written.
        package static let database = Code(.database)
        /// The master key does not match the database.
        package static let wrongKey = Code(.wrongKey)
        /// Another process held the database past the busy timeout.
        package static let databaseLocked = Code(.databaseLocked)
        /// There is no database at the configured path.
        package static let databaseMissing = Code(.databaseMissing)

        package var description: String { base.rawValue }

        /// The process exit code (<doc:CLIContract#Exit-codes>) for this error.
        package var exitCode: Int32 {
            switch base {
            case .usage, .configuration: 64
            case .invalidInput, .notFound, .alreadyStored: 65
            case .sinchUnavailable, .credentialsRefused: 69
            case .database, .wrongKey, .databaseLocked, .databaseMissing: 74
            }
        }
    }

    package let code: Code
    package let message: String
    /// The error that caused this one, when there is one; never holds a secret.
    package let underlying: (any Error & Sendable)?

    package init(_ code: Code, _ message: String, underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    package var description: String { message }
}
