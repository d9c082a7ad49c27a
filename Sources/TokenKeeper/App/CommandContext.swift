import Foundation
import WallTime

/// The wiring every command shares: configuration, the store, the master key and the actor.
///
/// Lives in the library so tests reach the same paths the executable takes. The store's backend
/// is given by whoever links one (the executable, a test): the domain knows none.
package struct CommandContext: Sendable {
    package let configuration: TokenKeeperConfiguration
    package let backend: any StoreBackend
    package let clock: any WallClock
    /// Who changes things, for the audit: `cli:<user>`.
    package let actor: String

    package init(
        configuration: TokenKeeperConfiguration,
        backend: any StoreBackend,
        clock: any WallClock = SystemClock(),
        actor: String? = nil
    ) {
        self.configuration = configuration
        self.backend = backend
        self.clock = clock
        self.actor = actor ?? "cli:\(Self.userName())"
    }

    /// Loads the configuration from `--db`, `--config` and the process environment; `backend`
    /// picks the store's backend for what the configuration names.
    package static func load(
        database: String?,
        configFile: String?,
        backend: (TokenKeeperConfiguration) throws -> any StoreBackend
    ) throws -> CommandContext {
        var flags: [String: String] = [:]
        if let database { flags["database.path"] = database }
        let configuration = try ConfigurationLoader.load(
            flags: flags,
            configFile: configFile,
            environment: ProcessInfo.processInfo.environment
        )
        return CommandContext(configuration: configuration, backend: try backend(configuration))
    }

    /// Opens the existing database.
    package func openStore(readOnly: Bool = false) throws -> any TokenStore {
        try backend.open(at: configuration.databasePath, readOnly: readOnly)
    }

    /// The inventory without the master key, read only by default: enough for `list`, `show`,
    /// `check` and `audit`. Everything that writes loads the key (``keyedInventory(actor:)``).
    package func inventory() throws -> Inventory {
        Inventory(store: try openStore(readOnly: true), policy: configuration.policy, clock: clock, actor: actor)
    }

    /// The inventory with the master key loaded and checked against the database; `actor`
    /// (a refreshing process's `host:pid:nonce`) replaces the CLI user in the audit.
    package func keyedInventory(actor: String? = nil) throws -> Inventory {
        let store = try openStore()
        let sealer = try loadSealer()
        try store.bind(to: sealer)
        return Inventory(
            store: store,
            policy: configuration.policy,
            clock: clock,
            actor: actor ?? self.actor,
            sealer: sealer
        )
    }

    /// Why no master key can be loaded here, when there is none to load: no
    /// `TOKENKEEPER_MASTER_KEY` and a key file that is missing or that this user may not read.
    /// Nil when a key is at hand (even one that turns out wrong or unsafe).
    package func keyUnavailable() -> String? {
        guard configuration.masterKey == nil else { return nil }
        let path = configuration.masterKeyFile
        if !FileSystem.exists(path) { return "no key file \(path) and TOKENKEEPER_MASTER_KEY is not set" }
        return access(path, R_OK) == 0 ? nil : "this user cannot read the key file \(path)"
    }

    /// `key list`, `rotate` and `retire` on the store, its keys checked against it.
    package func keyRotation() throws -> KeyRotation {
        let store = try openStore()
        let sealer = try loadSealer()
        try store.bind(to: sealer)
        return KeyRotation(store: store, sealer: sealer, clock: clock, actor: actor)
    }

    /// The keys, as a sealer that reads the key file again when it meets a key it lacks (a
    /// rotation by another process).
    package func loadSealer() throws -> TokenSealer {
        let keyring = try Keyring.load(from: configuration)
        let configuration = configuration
        if case .environment = keyring.source { return TokenSealer(keyring: keyring) }
        return TokenSealer(
            keyring: keyring,
            file: configuration.masterKeyFile,
            reload: { try Keyring.load(from: configuration) }
        )
    }

    /// What `init` did.
    package struct InitResult: Sendable {
        /// The store as messages show it: an SQLite file's path, or a server's URL without its password.
        package var databasePath: String
        package var createdDatabase: Bool
        /// The key file written, when `init` made one.
        package var createdKeyFile: String?
        package var keySource: String
    }

    /// Creates the database and, unless `TOKENKEEPER_MASTER_KEY` is set or the key file exists,
    /// a new key file (0600). Running it again on an initialized database with the right key is
    /// harmless; with the wrong key it fails and changes nothing.
    package func initialize() throws -> InitResult {
        let path = configuration.databasePath
        let existing = try backend.openIfPresent(at: path)
        var createdKeyFile: String?
        let sealer: TokenSealer
        if configuration.masterKey != nil || FileSystem.exists(configuration.masterKeyFile) {
            sealer = try loadSealer()
        } else {
            if let existing, try existing.hasKeyCheck() {
                throw TokenKeeperError(
                    .configuration,
                    "\(existing.location) is initialized but its key file \(configuration.masterKeyFile) is missing; set TOKENKEEPER_MASTER_KEY or TOKENKEEPER_MASTER_KEY_FILE"
                )
            }
            let key = MasterKey.generate()
            try key.write(toNewFile: configuration.masterKeyFile)
            createdKeyFile = configuration.masterKeyFile
            sealer = TokenSealer(masterKey: key)
        }
        let store = try existing ?? backend.create(at: path)
        try store.bind(to: sealer)
        return InitResult(
            databasePath: store.location,
            createdDatabase: existing == nil,
            createdKeyFile: createdKeyFile,
            keySource: createdKeyFile.map { "key file \($0)" } ?? sealer.keyring.source.description
        )
    }

    package static func userName() -> String {
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name {
            return String(cString: name)
        }
        return ProcessInfo.processInfo.environment["USER"] ?? String(geteuid())
    }
}
