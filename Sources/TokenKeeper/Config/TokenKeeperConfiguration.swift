/// Everything tokenkeeper reads from flags, environment and the YAML file, resolved once at start.
public struct TokenKeeperConfiguration: Sendable {
    /// How tokenkeeper reaches Sinch.
    public struct Sinch: Sendable {
        public enum Auth: String, Sendable, CaseIterable {
            case oauth2
            case basic
        }

        public var keyID: String?
        /// Secret: never logged, never printed.
        public var keySecret: String?
        public var auth: Auth = .oauth2
        public var provisioningURL = "https://provisioning.api.sinch.com"
        public var authURL = "https://auth.sinch.com/oauth2/token"
        /// A PEM bundle of certificate authorities to trust instead of the system's.
        public var caBundle: String?
        /// Where ``keyID`` and ``keySecret`` were read from, for messages.
        public var credentialSource = "the environment (SINCH_KEY_ID, SINCH_KEY_SECRET)"

        public init() {}
    }

    /// How hard tokenkeeper may push Sinch.
    public struct Limits: Sendable {
        public var concurrency = 4
        /// Requests per second per Sinch project.
        public var rate = 5.0
        /// How long `add --code-stdin` waits for a busy database after the code was spent.
        public var exchangeStoreWait: Duration = .seconds(300)

        public init() {}
    }

    /// Command lines run after refresh events (issue 4 runs them).
    /// The command line of each hook that is configured (`hooks.<name>`).
    public struct Hooks: Sendable {
        private var commands: [RefreshStateMachine.Hook: String] = [:]

        public init() {}

        public subscript(hook: RefreshStateMachine.Hook) -> String? {
            get { commands[hook] }
            set { commands[hook] = newValue }
        }
    }

    public var databasePath: String
    public var masterKeyFile: String
    /// The base64 master key from `TOKENKEEPER_MASTER_KEY`; wins over the key file. Secret.
    public var masterKey: String?
    public var sinch = Sinch()
    public var policy = RenewalPolicy()
    public var limits = Limits()
    public var httpTimeout: Duration = .seconds(30)
    /// The longest `http.timeout` whose calls still end inside a refresh's lease: its
    /// ``RefreshEngine/callBudget(httpTimeout:)`` is under ``RefreshEngine/defaultLease``.
    public static let maximumHTTPTimeout: Duration = .seconds(70)
    public var hooks = Hooks()
    /// The YAML file the values came from, when there was one.
    public var configFile: String?

    public init(databasePath: String, masterKeyFile: String? = nil) {
        self.databasePath = databasePath
        self.masterKeyFile = masterKeyFile ?? Self.keyFile(besideDatabase: databasePath)
    }

    /// The default key file: `tokenkeeper.key` in the database's folder.
    public static func keyFile(besideDatabase path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "tokenkeeper.key" }
        return String(path[...slash]) + "tokenkeeper.key"
    }

    /// `$XDG_STATE_HOME/tokenkeeper/tokenkeeper.sqlite`, falling back to `~/.local/state`.
    public static func defaultDatabasePath(environment: [String: String]) -> String {
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") {
            return state + "/tokenkeeper/tokenkeeper.sqlite"
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "."
        return home + "/.local/state/tokenkeeper/tokenkeeper.sqlite"
    }
}
