/// Everything tokenkeeper reads from flags, environment and the YAML file, resolved once at start.
package struct TokenKeeperConfiguration: Sendable {
    /// How tokenkeeper reaches Sinch.
    package struct Sinch: Sendable {
        package enum Auth: String, Sendable, CaseIterable {
            case oauth2
            case basic
        }

        package var keyID: String?
        /// Secret: never logged, never printed.
        package var keySecret: String?
        package var auth: Auth = .oauth2
        package var provisioningURL = "https://provisioning.api.sinch.com"
        package var authURL = "https://auth.sinch.com/oauth2/token"
        /// A PEM bundle of certificate authorities to trust instead of the system's.
        package var caBundle: String?
        /// `sinch.allow_insecure_http`: plain `http://` to a host other than loopback, which
        /// sends the access key and the tokens in clear, is used (with a warning) instead of refused.
        package var allowInsecureHTTP = false
        /// Where ``keyID`` and ``keySecret`` were read from, for messages.
        package var credentialSource = "the environment (SINCH_KEY_ID, SINCH_KEY_SECRET)"

        package init() {}
    }

    /// How hard tokenkeeper may push Sinch.
    package struct Limits: Sendable {
        package var concurrency = 4
        /// Requests per second per Sinch project.
        package var rate = 5.0
        /// The rates `limits.rate` takes: one request every 100 s at the slowest (a smaller rate
        /// would leave a project's tokens waiting past their expiry), a million a second at the
        /// most (no limit in practice, as a benchmark wants; above, the arithmetic loses meaning).
        package static let rateBounds = 0.01...1_000_000.0
        /// How long `add --code-stdin` waits for a busy database after the code was spent.
        package var exchangeStoreWait: Duration = .seconds(300)

        package init() {}
    }

    /// Command lines run after refresh events (issue 4 runs them).
    /// The command line of each hook that is configured (`hooks.<name>`).
    package struct Hooks: Sendable {
        private var commands: [RefreshStateMachine.Hook: String] = [:]

        package init() {}

        package subscript(hook: RefreshStateMachine.Hook) -> String? {
            get { commands[hook] }
            set { commands[hook] = newValue }
        }
    }

    /// An SQLite file's path, or a database server's URL (`postgres://…`).
    package var databasePath: String
    /// What a database server needs beyond its URL (`database.*`); an SQLite file uses none.
    package var database = Database()
    package var masterKeyFile: String
    /// The base64 master key from `TOKENKEEPER_MASTER_KEY`; wins over the key file. Secret.
    package var masterKey: String?
    /// Whether `masterKeyFile` is the systemd credential `tokenkeeper.key` (`LoadCredential=`):
    /// a file systemd made for this service alone, whose mode and owner are systemd's business.
    package var masterKeyFileIsCredential = false
    package var sinch = Sinch()
    package var policy = RenewalPolicy()
    package var limits = Limits()
    package var httpTimeout: Duration = .seconds(30)
    /// The longest `http.timeout` whose calls still end inside a refresh's lease: its
    /// ``RefreshEngine/callBudget(httpTimeout:)`` is under ``RefreshEngine/defaultLease``.
    package static let maximumHTTPTimeout: Duration = .seconds(70)
    package var hooks = Hooks()
    /// `metrics.per_token`: which tokens `/metrics` names one by one.
    package var perTokenSeries: PerTokenSeries = .attention
    /// `policy.probe_every`: how often the daemon asks Sinch whether each active token is still
    /// accepted; nil (the default): never.
    package var probeEvery: Duration?
    /// `check.stale`: how long without a refresher's pass before `check` warns; nil: never.
    package var checkStale: Duration? = .seconds(3_600)
    /// The YAML file the values came from, when there was one.
    package var configFile: String?

    /// `database.password_file`, `database.connect_timeout`, `database.statement_timeout`.
    package struct Database: Sendable, Equatable {
        /// A file holding the server's password (its first line), when neither the URL nor
        /// `PGPASSWORD` gives one.
        package var passwordFile: String?
        package var connectTimeout: Duration = .seconds(10)
        package var statementTimeout: Duration = .seconds(30)
        /// The longest `statement_timeout` PostgreSQL accepts: 2^31 - 1 milliseconds.
        package static let maximumStatementTimeout: Duration = .milliseconds(2_147_483_647)

        package init() {}
    }

    /// `metrics.per_token`: the tokens with series of their own on `/metrics`.
    package enum PerTokenSeries: String, Sendable, CaseIterable {
        /// Tokens not active, failed since their last refresh, or expiring within `check`'s
        /// default warning window.
        case attention
        /// Every token (two series each: about 220 bytes a token per scrape).
        case all
        /// None: the aggregates only.
        case none
    }

    /// Whether the database is a server named by a URL rather than a file.
    package var databaseIsURL: Bool { DatabaseLocation.isURL(databasePath) }

    /// `masterKeyFile` nil: the key file beside an SQLite file, or for a database server (which
    /// has no folder here) in the default state folder (`defaultStateFolder`).
    package init(databasePath: String, masterKeyFile: String? = nil, defaultStateFolder: String? = nil) {
        self.databasePath = databasePath
        let besideDatabase =
            DatabaseLocation.isURL(databasePath)
            ? (defaultStateFolder ?? ".") + "/tokenkeeper.key" : Self.keyFile(besideDatabase: databasePath)
        self.masterKeyFile = masterKeyFile ?? besideDatabase
    }

    /// The default key file: `tokenkeeper.key` in the database's folder.
    package static func keyFile(besideDatabase path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "tokenkeeper.key" }
        return String(path[...slash]) + "tokenkeeper.key"
    }

    /// `$XDG_STATE_HOME/tokenkeeper/tokenkeeper.sqlite`, falling back to `~/.local/state`.
    package static func defaultDatabasePath(environment: [String: String]) -> String {
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") {
            return state + "/tokenkeeper/tokenkeeper.sqlite"
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "."
        return home + "/.local/state/tokenkeeper/tokenkeeper.sqlite"
    }
}
