/// The one error type the library throws to its callers.
///
/// Each ``Code`` maps to one exit code of <doc:CLIContract#Exit-codes>; the message is a sentence an operator can
/// act on and never holds a token value.
public struct TokenKeeperError: Error, CustomStringConvertible, Sendable {
    /// A stable error code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
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
        public static let usage = Code(.usage)
        /// A configuration value, file or master key that is missing or malformed.
        public static let configuration = Code(.configuration)
        /// Input data (a JSON line, a token, a time) that is malformed.
        public static let invalidInput = Code(.invalidInput)
        /// An id that names no stored token.
        public static let notFound = Code(.notFound)
        /// The token value is stored already, in another record.
        public static let alreadyStored = Code(.alreadyStored)
        /// Sinch could not be reached.
        public static let sinchUnavailable = Code(.sinchUnavailable)
        /// Sinch refused the credentials.
        public static let credentialsRefused = Code(.credentialsRefused)
        /// The database could not be read or written.
        public static let database = Code(.database)
        /// The master key does not match the database.
        public static let wrongKey = Code(.wrongKey)
        /// Another process held the database past the busy timeout.
        public static let databaseLocked = Code(.databaseLocked)
        /// There is no database at the configured path.
        public static let databaseMissing = Code(.databaseMissing)

        public var description: String { base.rawValue }

        /// The process exit code (<doc:CLIContract#Exit-codes>) for this error.
        public var exitCode: Int32 {
            switch base {
            case .usage, .configuration: 64
            case .invalidInput, .notFound, .alreadyStored: 65
            case .sinchUnavailable, .credentialsRefused: 69
            case .database, .wrongKey, .databaseLocked, .databaseMissing: 74
            }
        }
    }

    public let code: Code
    public let message: String
    /// The error that caused this one, when there is one; never holds a secret.
    public let underlying: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { message }
}
