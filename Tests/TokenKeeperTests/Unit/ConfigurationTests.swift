import Foundation
import Testing
import TokenKeeper
import TokenKeeperTesting

@Suite struct ConfigurationTests {
    let directory = TemporaryDirectory()

    func yaml(_ text: String) throws -> String {
        let path = directory.file("tokenkeeper.yaml")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func defaultsApplyWithNothingSet() throws {
        let config = try ConfigurationLoader.load(environment: ["HOME": "/home/op"])
        #expect(config.databasePath == "/home/op/.local/state/tokenkeeper/tokenkeeper.sqlite")
        #expect(config.masterKeyFile == "/home/op/.local/state/tokenkeeper/tokenkeeper.key")
        #expect(config.policy.lifetime == .seconds(60 * 86_400))
        #expect(config.policy.renewBefore == .seconds(20 * 86_400))
        #expect(config.policy.minAge == .seconds(86_400))
        #expect(config.policy.jitter == .fraction(0.1))
        #expect(config.policy.backoffMin == .seconds(60))
        #expect(config.policy.backoffMax == .seconds(6 * 3_600))
        #expect(config.limits.concurrency == 4)
        #expect(config.limits.rate == 5)
        #expect(config.httpTimeout == .seconds(30))
        #expect(config.sinch.auth == .oauth2)
        #expect(config.sinch.provisioningURL == "https://provisioning.api.sinch.com")
        #expect(config.sinch.authURL == "https://auth.sinch.com/oauth2/token")
    }

    @Test func xdgStateHomeMovesTheDefaultDatabase() throws {
        let config = try ConfigurationLoader.load(environment: ["HOME": "/h", "XDG_STATE_HOME": "/var/state"])
        #expect(config.databasePath == "/var/state/tokenkeeper/tokenkeeper.sqlite")
    }

    @Test func flagBeatsEnvironmentBeatsFileBeatsDefault() throws {
        let file = try yaml(
            """
            database: /from/yaml.sqlite
            policy:
              lifetime: 30d
              renew_before: 5d
            limits:
              concurrency: 8
              rate: 2
            sinch:
              key_id: yaml-key
            """
        )
        let environment = [
            "HOME": "/h", "TOKENKEEPER_DB": "/from/env.sqlite", "TOKENKEEPER_LIFETIME": "40d",
            "SINCH_KEY_ID": "env-key",
        ]
        let config = try ConfigurationLoader.load(
            flags: ["database.path": "/from/flag.sqlite"],
            configFile: file,
            environment: environment
        )
        #expect(config.databasePath == "/from/flag.sqlite")
        #expect(config.policy.lifetime == .seconds(40 * 86_400))  // env over YAML
        #expect(config.policy.renewBefore == .seconds(5 * 86_400))  // YAML over default
        #expect(config.limits.concurrency == 8)
        #expect(config.limits.rate == 2)
        #expect(config.sinch.keyID == "env-key")
        #expect(config.httpTimeout == .seconds(30))  // default

        let withoutFlag = try ConfigurationLoader.load(configFile: file, environment: environment)
        #expect(withoutFlag.databasePath == "/from/env.sqlite")
        var noEnvironment = environment
        noEnvironment["TOKENKEEPER_DB"] = nil
        let fileOnly = try ConfigurationLoader.load(configFile: file, environment: noEnvironment)
        #expect(fileOnly.databasePath == "/from/yaml.sqlite")
        #expect(fileOnly.masterKeyFile == "/from/tokenkeeper.key")
    }

    @Test func configFileComesFromTheEnvironmentToo() throws {
        let file = try yaml("http:\n  timeout: 5s\n")
        let config = try ConfigurationLoader.load(environment: ["HOME": "/h", "TOKENKEEPER_CONFIG": file])
        #expect(config.httpTimeout == .seconds(5))
        #expect(config.configFile == file)
    }

    @Test func renewBeforeDefaultsToAThirdOfTheLifetimeAndMinAgeIsCapped() throws {
        let config = try ConfigurationLoader.load(environment: ["HOME": "/h", "TOKENKEEPER_LIFETIME": "30s"])
        #expect(config.policy.renewBefore == .seconds(10))
        #expect(config.policy.minAge == .seconds(10))
    }

    @Test func jitterTakesAPercentageOrADuration() throws {
        let percent = try ConfigurationLoader.load(environment: ["HOME": "/h", "TOKENKEEPER_JITTER": "25%"])
        #expect(percent.policy.jitter == .fraction(0.25))
        #expect(percent.policy.maximumJitter == .seconds(5 * 86_400))
        let duration = try ConfigurationLoader.load(environment: ["HOME": "/h", "TOKENKEEPER_JITTER": "2d"])
        #expect(duration.policy.maximumJitter == .seconds(2 * 86_400))
    }

    @Test(arguments: [
        ("TOKENKEEPER_LIFETIME", "abc", "policy.lifetime"),
        ("TOKENKEEPER_RENEW_BEFORE", "10", "policy.renew_before"),
        ("TOKENKEEPER_HTTP_TIMEOUT", "30 s", "http.timeout"),
        ("TOKENKEEPER_CONCURRENCY", "lots", "limits.concurrency"),
        ("TOKENKEEPER_RATE", "-1", "limits.rate"),
        ("TOKENKEEPER_JITTER", "110%", "policy.jitter"),
        ("SINCH_AUTH", "digest", "sinch.auth"),
        ("SINCH_PROVISIONING_URL", "not a url", "sinch.provisioning_url"),
        ("SINCH_ALLOW_INSECURE_HTTP", "yes please", "sinch.allow_insecure_http"),
    ])
    func badValueIsAConfigurationErrorNamingKeyAndValue(variable: String, value: String, key: String) {
        #expect {
            try ConfigurationLoader.load(environment: ["HOME": "/h", variable: value])
        } throws: { error in
            guard let error = error as? TokenKeeperError else { return false }
            return error.code == .configuration && error.code.exitCode == 64 && error.message.contains(key)
                && error.message.contains(variable) && error.message.contains(value)
        }
    }

    /// Plain HTTP stays on the machine or is refused: loopback in each spelling passes, a host
    /// that only starts or ends like one does not.
    @Test(arguments: [
        ("http://127.0.0.1:8080", true), ("http://127.9.8.7", true), ("http://localhost:1/x", true),
        ("http://LOCALHOST", true), ("http://[::1]:9", true), ("https://sinch.example", true),
        ("http://sinch.example", false), ("http://127.0.0.1.nip.example", false), ("http://128.0.0.1", false),
        ("http://localhost.example", false), ("http://10.0.0.1:80", false), ("http://127.+0.+0.+1", false),
    ])
    func plainHTTPIsRefusedUnlessLoopback(url: String, allowed: Bool) throws {
        for variable in ["SINCH_PROVISIONING_URL", "SINCH_AUTH_URL"] {
            let config = try ConfigurationLoader.load(environment: ["HOME": "/h", variable: url])
            let lines = RecordingLogHandler.Lines()
            let logger = RecordingLogHandler.logger(into: lines)
            if allowed {
                try config.refuseCleartext(logger: logger, environment: [:])
            } else {
                #expect {
                    try config.refuseCleartext(logger: logger, environment: [:])
                } throws: { error in
                    guard let error = error as? TokenKeeperError else { return false }
                    return error.code.exitCode == 64 && error.message.contains(variable)
                        && error.message.contains("sinch.allow_insecure_http")
                }
                let allowing = try ConfigurationLoader.load(
                    environment: ["HOME": "/h", variable: url, "SINCH_ALLOW_INSECURE_HTTP": "true"]
                )
                try allowing.refuseCleartext(logger: logger, environment: [:])
            }
            #expect(
                lines.text.contains("warning sending the Sinch access key and tokens in clear") == !allowed,
                "\(lines.text)"
            )
        }
    }

    /// Loopback through a proxy leaves the machine: only `no_proxy` keeps it home.
    @Test func loopbackThroughAProxyIsPlainHTTPAcrossTheNetwork() throws {
        let config = try ConfigurationLoader.load(
            environment: ["HOME": "/h", "SINCH_PROVISIONING_URL": "http://127.0.0.1:8080"]
        )
        let logger = RecordingLogHandler.logger(into: RecordingLogHandler.Lines())
        for environment in [
            ["http_proxy": "http://user:pw@proxy.example:3128"], ["ALL_PROXY": "proxy.example:3128"],
            ["http_proxy": "proxy.example:3128", "no_proxy": "localhost"],
        ] {
            #expect {
                try config.refuseCleartext(logger: logger, environment: environment)
            } throws: { error in
                let message = (error as? TokenKeeperError)?.message ?? ""
                return message.contains("through the proxy proxy.example:3128") && !message.contains("pw")
            }
        }
        for environment in [
            [:], ["HTTP_PROXY": "proxy.example:3128"], ["http_proxy": "proxy.example", "no_proxy": "x, 127.0.0.1"],
            ["http_proxy": "proxy.example", "NO_PROXY": "*"],
        ] {
            try config.refuseCleartext(logger: logger, environment: environment)
        }
    }

    @Test func aConfigFileHoldsASecretInAnySpelling() {
        for text in [
            "sinch:\n  key_secret: x\n", "sinch: {key_id: a, key_secret: x}\n", "sinch:\n  'key_secret' : x\n",
            "master_key: abc\n", "database:\n  path: postgres://tk:hunter2@db/tk\n",
            "database: postgresql://tk:hunter2@db:5432/tk?sslmode=require\n",
        ] {
            #expect(ConfigurationLoader.holdsSecret(text), "\(text)")
        }
        for text in [
            "sinch:\n  key_id: abc\n", "# key_secret: x\n", "master_key_file: /k\n",
            "database: postgres://tk@db/tk\n",
        ] {
            #expect(!ConfigurationLoader.holdsSecret(text), "\(text)")
        }
    }

    /// The file's spelling is a YAML boolean.
    @Test func allowInsecureHTTPIsABooleanInTheFile() throws {
        let file = try yaml("sinch:\n  allow_insecure_http: true\n")
        #expect(try ConfigurationLoader.load(configFile: file, environment: ["HOME": "/h"]).sinch.allowInsecureHTTP)
        #expect(try !ConfigurationLoader.load(environment: ["HOME": "/h"]).sinch.allowInsecureHTTP)
    }

    /// A 10-minute timeout let one call outlive the 5-minute lease on its token, and a second
    /// process exchange the same token meanwhile.
    @Test func anHTTPTimeoutThatCouldOutliveTheLeaseIsRefused() throws {
        #expect {
            try ConfigurationLoader.load(environment: ["HOME": "/h", "TOKENKEEPER_HTTP_TIMEOUT": "10m"])
        } throws: { error in
            guard let error = error as? TokenKeeperError else { return false }
            return error.code.exitCode == 64 && error.message.contains("http.timeout (TOKENKEEPER_HTTP_TIMEOUT)")
                && error.message.contains("lease")
        }
        let longest = TokenKeeperConfiguration.maximumHTTPTimeout
        let config = try ConfigurationLoader.load(
            environment: ["HOME": "/h", "TOKENKEEPER_HTTP_TIMEOUT": "\(longest.components.seconds)s"]
        )
        #expect(config.httpTimeout == longest)
        #expect(RefreshEngine.callBudget(httpTimeout: longest) < RefreshEngine.defaultLease)
    }

    @Test func renewBeforeLongerThanLifetimeIsRefused() {
        #expect(throws: TokenKeeperError.self) {
            try ConfigurationLoader.load(
                environment: ["HOME": "/h", "TOKENKEEPER_LIFETIME": "10d", "TOKENKEEPER_RENEW_BEFORE": "20d"]
            )
        }
    }

    @Test func missingUnreadableOrMalformedConfigFileIsAConfigurationError() throws {
        let missing = directory.file("missing.yaml")
        let unreadable = try yaml("database: /x\n")
        chmod(unreadable, 0o000)
        let malformed = directory.file("malformed.yaml")
        try "policy: [unclosed\n".write(toFile: malformed, atomically: true, encoding: .utf8)
        let scalar = directory.file("scalar.yaml")
        try "just a string\n".write(toFile: scalar, atomically: true, encoding: .utf8)
        var files = [missing, malformed, scalar]
        if geteuid() != 0 { files.append(unreadable) }  // root reads anything
        for file in files {
            #expect {
                try ConfigurationLoader.load(configFile: file, environment: ["HOME": "/h"])
            } throws: { error in
                guard let error = error as? TokenKeeperError else { return false }
                return error.code == .configuration && error.message.contains(file)
            }
        }
    }

    @Test func secretsNeverAppearInErrors() {
        #expect {
            try ConfigurationLoader.load(
                environment: ["HOME": "/h", "SINCH_KEY_SECRET": "s3cr3t-value", "TOKENKEEPER_LIFETIME": "x"]
            )
        } throws: { error in
            !"\(error)".contains("s3cr3t-value")
        }
    }
}
