import Configuration
import Foundation
import Logging
import SystemPackage

/// Reads ``TokenKeeperConfiguration`` through swift-configuration, in the precedence of
/// <doc:CLIContract#Configuration>: command-line flag > environment variable > YAML config file > default.
package enum ConfigurationLoader {
    /// One setting of the configuration table (<doc:CLIContract#Configuration>): its YAML key and its environment variable.
    struct Setting {
        let key: String
        let environment: String
        var isSecret = false
    }

    /// The configuration table of <doc:CLIContract#Configuration>, the one place that pairs YAML keys with variables.
    static let settings: [Setting] = baseSettings + hookSettings

    /// `hooks.<name>` and `TOKENKEEPER_HOOK_<NAME>`, one for each hook.
    static let hookSettings = RefreshStateMachine.Hook.allCases.map {
        Setting(key: "hooks.\($0.rawValue)", environment: "TOKENKEEPER_HOOK_\($0.rawValue.uppercased())")
    }

    private static let baseSettings: [Setting] = [
        Setting(key: "database.path", environment: "TOKENKEEPER_DB"),
        Setting(key: "database.password_file", environment: "TOKENKEEPER_DB_PASSWORD_FILE"),
        Setting(key: "database.connect_timeout", environment: "TOKENKEEPER_DB_CONNECT_TIMEOUT"),
        Setting(key: "database.statement_timeout", environment: "TOKENKEEPER_DB_STATEMENT_TIMEOUT"),
        Setting(key: "master_key_file", environment: "TOKENKEEPER_MASTER_KEY_FILE"),
        Setting(key: "master_key", environment: "TOKENKEEPER_MASTER_KEY", isSecret: true),
        Setting(key: "sinch.key_id", environment: "SINCH_KEY_ID"),
        Setting(key: "sinch.key_secret", environment: "SINCH_KEY_SECRET", isSecret: true),
        Setting(key: "sinch.auth", environment: "SINCH_AUTH"),
        Setting(key: "sinch.provisioning_url", environment: "SINCH_PROVISIONING_URL"),
        Setting(key: "sinch.auth_url", environment: "SINCH_AUTH_URL"),
        Setting(key: "sinch.ca_bundle", environment: "SINCH_CA_BUNDLE"),
        Setting(key: "sinch.allow_insecure_http", environment: "SINCH_ALLOW_INSECURE_HTTP"),
        Setting(key: "policy.lifetime", environment: "TOKENKEEPER_LIFETIME"),
        Setting(key: "policy.renew_before", environment: "TOKENKEEPER_RENEW_BEFORE"),
        Setting(key: "policy.min_age", environment: "TOKENKEEPER_MIN_AGE"),
        Setting(key: "policy.jitter", environment: "TOKENKEEPER_JITTER"),
        Setting(key: "policy.backoff_min", environment: "TOKENKEEPER_BACKOFF_MIN"),
        Setting(key: "policy.backoff_max", environment: "TOKENKEEPER_BACKOFF_MAX"),
        Setting(key: "limits.concurrency", environment: "TOKENKEEPER_CONCURRENCY"),
        Setting(key: "limits.rate", environment: "TOKENKEEPER_RATE"),
        Setting(key: "limits.exchange_store_wait", environment: "TOKENKEEPER_EXCHANGE_STORE_WAIT"),
        Setting(key: "http.timeout", environment: "TOKENKEEPER_HTTP_TIMEOUT"),
        Setting(key: "metrics.per_token", environment: "TOKENKEEPER_METRICS_PER_TOKEN"),
        Setting(key: "check.stale", environment: "TOKENKEEPER_CHECK_STALE"),
        Setting(key: "policy.probe_every", environment: "TOKENKEEPER_PROBE_EVERY"),
    ]

    /// Loads the configuration.
    /// - Parameters:
    ///   - flags: values given on the command line, by YAML key (`database.path` for `--db`).
    ///   - configFile: `--config`, which wins over `TOKENKEEPER_CONFIG`.
    ///   - environment: the process environment (a dictionary, so tests pass their own).
    package static func load(
        flags: [String: String] = [:],
        configFile: String? = nil,
        environment: [String: String]
    ) throws -> TokenKeeperConfiguration {
        var providers: [any ConfigProvider] = [
            InMemoryProvider(name: "flags", values: values(flags, isSecret: { _ in false })),
            InMemoryProvider(name: "environment", values: environmentValues(environment)),
        ]
        let file = configFile ?? environment["TOKENKEEPER_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        if let file, let provider = try yamlProvider(path: file) {
            providers.append(provider)
        }
        let reader = ConfigReader(providers: providers)
        func string(_ key: String) -> String? {
            let setting = settings.first { $0.key == key }
            return reader.string(forKey: ConfigKey(key), isSecret: setting?.isSecret ?? false).flatMap {
                let trimmed = $0.trimmingCharacters(in: .whitespaces)
                return trimmed.isEmpty ? nil : trimmed
            }
        }
        func name(_ key: String) -> String {
            settings.first { $0.key == key }.map { "\(key) (\($0.environment))" } ?? key
        }
        func duration(_ key: String) throws -> Duration? {
            try string(key).map { try DurationText.parse($0, key: name(key)) }
        }

        let defaultPath = TokenKeeperConfiguration.defaultDatabasePath(environment: environment)
        // `database: PATH` in a config file is the older spelling of `database.path`.
        let databasePath = string("database.path") ?? legacyDatabase(reader) ?? defaultPath
        var config = TokenKeeperConfiguration(
            databasePath: databasePath,
            masterKeyFile: string("master_key_file"),
            defaultStateFolder: String(defaultPath[..<(defaultPath.lastIndex(of: "/") ?? defaultPath.endIndex)])
        )
        config.database.passwordFile = string("database.password_file")
        for (key, path) in [
            ("database.connect_timeout", \TokenKeeperConfiguration.Database.connectTimeout),
            ("database.statement_timeout", \.statementTimeout),
        ] {
            guard let value = try duration(key) else { continue }
            guard value > .zero else {
                throw TokenKeeperError(
                    .configuration,
                    "invalid value for \(name(key)): it must be above zero, such as 10s"
                )
            }
            config.database[keyPath: path] = value
        }
        guard config.database.statementTimeout <= TokenKeeperConfiguration.Database.maximumStatementTimeout else {
            // The server refuses a longer one at every connection, so every command would fail.
            throw TokenKeeperError(
                .configuration,
                "invalid value for \(name("database.statement_timeout")): "
                    + "\(DurationText.format(config.database.statementTimeout)) is longer than PostgreSQL accepts "
                    + "(2147483647ms, about 24d)"
            )
        }
        config.configFile = file
        config.masterKey = string("master_key")
        // Under systemd, `LoadCredential=tokenkeeper.key:PATH` puts the key where the service
        // alone reads it; an explicit master_key_file still wins.
        if string("master_key_file") == nil, let folder = environment["CREDENTIALS_DIRECTORY"], !folder.isEmpty,
            FileSystem.exists(folder + "/tokenkeeper.key")
        {
            config.masterKeyFile = folder + "/tokenkeeper.key"
            config.masterKeyFileIsCredential = true
        }

        config.sinch.keyID = string("sinch.key_id")
        config.sinch.keySecret = string("sinch.key_secret")
        config.sinch.credentialSource = credentialSource(environment: environment, configFile: file)
        config.sinch.caBundle = string("sinch.ca_bundle")
        if let text = string("sinch.allow_insecure_http") {
            guard let allow = ["true": true, "false": false][text.lowercased()] else {
                throw TokenKeeperError(
                    .configuration,
                    "invalid value for \(name("sinch.allow_insecure_http")): \(Echo.quoted(text)) (expected true or false)"
                )
            }
            config.sinch.allowInsecureHTTP = allow
        }
        if let auth = string("sinch.auth") {
            guard let method = TokenKeeperConfiguration.Sinch.Auth(rawValue: auth.lowercased()) else {
                throw TokenKeeperError(
                    .configuration,
                    "invalid value for \(name("sinch.auth")): \(Echo.quoted(auth)) (expected oauth2 or basic)"
                )
            }
            config.sinch.auth = method
        }
        for (key, path) in [
            ("sinch.provisioning_url", \TokenKeeperConfiguration.Sinch.provisioningURL),
            ("sinch.auth_url", \.authURL),
        ] {
            guard let url = string(key) else { continue }
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil
            else {
                throw TokenKeeperError(.configuration, "invalid URL for \(name(key)): \(Echo.quoted(url))")
            }
            config.sinch[keyPath: path] = url
        }

        // RenewalPolicy holds the defaults; renew_before and min_age follow the lifetime unless set.
        let defaults = RenewalPolicy()
        config.policy = RenewalPolicy(
            lifetime: try duration("policy.lifetime") ?? defaults.lifetime,
            renewBefore: try duration("policy.renew_before"),
            minAge: try duration("policy.min_age"),
            jitter: try string("policy.jitter").map { try parseJitter($0, name: name("policy.jitter")) }
                ?? defaults.jitter,
            backoffMin: try duration("policy.backoff_min") ?? defaults.backoffMin,
            backoffMax: try duration("policy.backoff_max") ?? defaults.backoffMax
        )
        try config.policy.validate()

        if let text = string("limits.concurrency") {
            guard let value = Int(text), (1...1_024).contains(value) else {
                throw TokenKeeperError(
                    .configuration,
                    "invalid value for \(name("limits.concurrency")): \(Echo.quoted(text)) (expected a whole number from 1 to 1024)"
                )
            }
            config.limits.concurrency = value
        }
        if let text = string("limits.rate") {
            let bounds = TokenKeeperConfiguration.Limits.rateBounds
            guard let value = Double(text), bounds.contains(value) else {
                throw TokenKeeperError(
                    .configuration,
                    "invalid value for \(name("limits.rate")): \(Echo.quoted(text)) (expected requests per second "
                        + "from \(bounds.lowerBound) to \(Int(bounds.upperBound)), such as 5)"
                )
            }
            config.limits.rate = value
        }
        config.limits.exchangeStoreWait = try duration("limits.exchange_store_wait") ?? config.limits.exchangeStoreWait
        config.httpTimeout = try duration("http.timeout") ?? config.httpTimeout
        guard config.httpTimeout > .zero else {
            // libcurl reads a zero timeout as "no limit": a hung Sinch would hang the tool.
            throw TokenKeeperError(
                .configuration,
                "invalid value for \(name("http.timeout")): it must be above zero, such as 30s"
            )
        }
        guard config.httpTimeout <= TokenKeeperConfiguration.maximumHTTPTimeout else {
            // A call that outlives the lease on its token lets another process exchange it too.
            throw TokenKeeperError(
                .configuration,
                "invalid value for \(name("http.timeout")): \(DurationText.format(config.httpTimeout)) is too long; "
                    + "at most \(DurationText.format(TokenKeeperConfiguration.maximumHTTPTimeout)), so that a refresh's "
                    + "calls (up to four) end inside the \(DurationText.format(RefreshEngine.defaultLease)) lease on its token"
            )
        }
        for hook in RefreshStateMachine.Hook.allCases {
            config.hooks[hook] = string("hooks.\(hook.rawValue)")
        }
        try loadMonitoring(into: &config, string: string, name: name)
        try checkLogLevel(environment)
        return config
    }

    /// The config file's `database: PATH`, the spelling before `database.path`.
    private static func legacyDatabase(_ reader: ConfigReader) -> String? {
        reader.string(forKey: ConfigKey(legacyDatabaseKey)).flatMap {
            let trimmed = $0.trimmingCharacters(in: .whitespaces)
            return trimmed.isEmpty ? nil : trimmed
        }
    }

    static let legacyDatabaseKey = "database"

    /// Whether a config file's text may hold a secret: a secret setting's key on a line that is
    /// not a comment, in any YAML spelling (block or flow, quoted, a space before the colon), or
    /// a `postgres://` URL with a password. Erring towards yes only makes the file's rule stricter.
    package static func holdsSecret(_ text: String) -> Bool {
        let names = settings.filter(\.isSecret).compactMap { $0.key.split(separator: ".").last }.joined(separator: "|")
        let key = try! Regex("(^|[\\s{,'\"])(\(names))['\"]?\\s*:")
        let url = /postgres(ql)?:\/\/[^\s\/@:]*:[^\s\/@]*@/.ignoresCase()
        return text.split(whereSeparator: \.isNewline).contains { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.hasPrefix("#") else { return false }
            return trimmed.contains(key) || trimmed.contains(url)
        }
    }

    /// `TOKENKEEPER_LOG_LEVEL`, when set, must name a level: a misspelt one would silently log
    /// at the default.
    static func checkLogLevel(_ environment: [String: String]) throws {
        guard let text = environment["TOKENKEEPER_LOG_LEVEL"], !text.isEmpty, logLevel(text) == nil else { return }
        let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
        throw TokenKeeperError(
            .configuration,
            "invalid value for TOKENKEEPER_LOG_LEVEL: \(Echo.quoted(text)) (expected one of \(levels))"
        )
    }

    /// The log level `text` names, in any case.
    package static func logLevel(_ text: String) -> Logger.Level? { Logger.Level(rawValue: text.lowercased()) }

    /// Where the Sinch key id and secret come from, for messages (never their values).
    static func credentialSource(environment: [String: String], configFile: String?) -> String {
        let file = configFile.map { "config file \($0)" } ?? "the config file"
        let idFromEnvironment = !(environment["SINCH_KEY_ID"] ?? "").trimmingCharacters(in: .whitespaces).isEmpty
        let secretFromEnvironment =
            !(environment["SINCH_KEY_SECRET"] ?? "").trimmingCharacters(in: .whitespaces).isEmpty
        switch (idFromEnvironment, secretFromEnvironment) {
        case (true, true): return "the environment (SINCH_KEY_ID, SINCH_KEY_SECRET)"
        case (false, false): return "\(file) (sinch.key_id, sinch.key_secret)"
        case (true, false): return "SINCH_KEY_ID from the environment and sinch.key_secret from \(file)"
        case (false, true): return "sinch.key_id from \(file) and SINCH_KEY_SECRET from the environment"
        }
    }

    static func parseJitter(_ text: String, name: String) throws -> RenewalPolicy.Jitter {
        if text.hasSuffix("%") {
            if let percent = Double(text.dropLast()), (0...100).contains(percent) {
                return .fraction(percent / 100)
            }
        } else if let duration = DurationText.parse(text) {
            return .duration(duration)
        }
        throw TokenKeeperError(
            .configuration,
            "invalid value for \(name): \(Echo.quoted(text)) (expected a percentage such as 10% or a duration such as 2d)"
        )
    }

    private static func values(
        _ dictionary: [String: String],
        isSecret: (String) -> Bool
    ) -> [AbsoluteConfigKey: ConfigValue] {
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for (key, value) in dictionary {
            values[AbsoluteConfigKey(ConfigKey(key))] = ConfigValue(.string(value), isSecret: isSecret(key))
        }
        return values
    }

    private static func environmentValues(_ environment: [String: String]) -> [AbsoluteConfigKey: ConfigValue] {
        var byKey: [String: String] = [:]
        var secrets: Set<String> = []
        for setting in settings {
            guard let value = environment[setting.environment] else { continue }
            byKey[setting.key] = value
            if setting.isSecret { secrets.insert(setting.key) }
        }
        return values(byKey, isSecret: secrets.contains)
    }
}
