import Configuration
import Foundation
import SystemPackage
import Yams

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
                    "invalid value for \(name("sinch.allow_insecure_http")): \"\(text)\" (expected true or false)"
                )
            }
            config.sinch.allowInsecureHTTP = allow
        }
        if let auth = string("sinch.auth") {
            guard let method = TokenKeeperConfiguration.Sinch.Auth(rawValue: auth.lowercased()) else {
                throw TokenKeeperError(
                    .configuration,
                    "invalid value for \(name("sinch.auth")): \"\(auth)\" (expected oauth2 or basic)"
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
                throw TokenKeeperError(.configuration, "invalid URL for \(name(key)): \"\(url)\"")
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
                    "invalid value for \(name("limits.concurrency")): \"\(text)\" (expected a whole number from 1 to 1024)"
                )
            }
            config.limits.concurrency = value
        }
        if let text = string("limits.rate") {
            guard let value = Double(text), value > 0, value.isFinite else {
                throw TokenKeeperError(
                    .configuration,
                    "invalid value for \(name("limits.rate")): \"\(text)\" (expected requests per second, above zero)"
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
            "invalid value for \(name): \"\(text)\" (expected a percentage such as 10% or a duration such as 2d)"
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

    /// The YAML file's values for the keys of ``settings``, parsed synchronously: a command
    /// that reads a config file should not pay for starting the concurrency runtime.
    private static func yamlProvider(path: String) throws -> (any ConfigProvider)? {
        // Read the file ourselves first so that a missing or unreadable file gets a plain sentence.
        guard FileManager.default.fileExists(atPath: path) else {
            throw TokenKeeperError(.configuration, "config file \(path) does not exist")
        }
        // The mode is checked on the descriptor the bytes come from, not on the path before.
        guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.readToEnd() ?? Data() else {
            throw TokenKeeperError(.configuration, "config file \(path) is not readable (check its permissions)")
        }
        defer { try? handle.close() }
        // A file that holds a secret follows the key file's rule; any other, the store's.
        try FileModes.check(
            descriptor: handle.fileDescriptor,
            path,
            holdsSecret(String(decoding: data, as: UTF8.self)) ? .secretConfig : .config
        )
        // A file whose every line is commented out (a packaged example) configures nothing.
        let meaningful = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).contains {
            let line = $0.trimmingCharacters(in: .whitespaces)
            return !line.isEmpty && !line.hasPrefix("#") && line != "---"
        }
        guard meaningful else { return nil }
        let secrets = Set(settings.filter(\.isSecret).map(\.key))
        let snapshot: YAMLSnapshot
        do {
            snapshot = try YAMLSnapshot(
                data: data.bytes,
                providerName: "config file",
                parsingOptions: .init(secretsSpecifier: .specific(secrets))
            )
        } catch {
            // The parser's message quotes the offending line, which may hold a secret: keep only
            // its position.
            let position = "\(error)".prefix { $0.isNumber || $0 == ":" }.split(separator: ":")
            let at = position.count >= 2 ? " (at line \(position[0]), column \(position[1]))" : ""
            throw TokenKeeperError(
                .configuration,
                "config file \(path) is not valid YAML with a mapping at the top\(at)"
            )
        }
        if let unknown = try? unknownKeys(in: data).first {
            throw TokenKeeperError(
                .configuration,
                "config file \(path): unknown key \(unknown) (a misspelt key would silently keep its default; "
                    + "the keys are listed in the README's configuration table)"
            )
        }
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        let legacy = AbsoluteConfigKey(ConfigKey(legacyDatabaseKey))
        if let value = try? snapshot.value(forKey: legacy, type: .string).value { values[legacy] = value }
        for setting in settings {
            let key = AbsoluteConfigKey(ConfigKey(setting.key))
            do {
                if let value = try snapshot.value(forKey: key, type: .string).value { values[key] = value }
            } catch {
                throw TokenKeeperError(
                    .configuration,
                    "config file \(path): \(setting.key) must be a single value, not a list or a mapping"
                )
            }
        }
        return InMemoryProvider(name: "config file", values: values)
    }

    /// The file's keys, dotted as swift-configuration reads them, that are not in ``settings``.
    /// Only names, never values: an unknown key may hold a secret.
    static func unknownKeys(in data: Data) throws -> [String] {
        guard case .mapping(let root) = try Yams.compose(yaml: String(decoding: data, as: UTF8.self)) else { return [] }
        let known = Set(settings.map(\.key) + [legacyDatabaseKey])
        let sections = Set(settings.compactMap { $0.key.split(separator: ".").first.map(String.init) })
        var unknown: [String] = []
        func walk(_ mapping: Node.Mapping, prefix: String) {
            for (key, value) in mapping {
                let name = prefix + (key.string ?? "\(key)")
                if case .mapping(let inner) = value, prefix.isEmpty, sections.contains(name) {
                    walk(inner, prefix: name + ".")
                } else if !known.contains(name) {
                    unknown.append(name)
                }
            }
        }
        walk(root, prefix: "")
        return unknown
    }
}
