import FakeSinch
import Foundation
import Testing
import TokenKeeperTesting

/// `add --code-stdin`, `wabas` and `enable-template-analytics`: the built binary against
/// FakeSinch over real HTTP.
@Suite struct SinchCLITests {
    /// A sandbox whose CLI talks to `sinch` with its key, unless `environment` overrides it.
    func sandbox(
        _ sinch: SinchHarness,
        environment: [String: String] = [:],
        backend: TestBackend = .sqlite
    ) async throws -> CLISandbox {
        var sandbox = try await CLISandbox.make(
            sinch: sinch,
            environment: [
                "TOKENKEEPER_HTTP_TIMEOUT": "10s"
            ],
            backend: backend
        )
        sandbox.cli.environment.merge(environment) { $1 }
        return sandbox
    }

    @Test(arguments: TestBackend.all)
    func addWithACodeExchangesItAndStoresTheToken(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await sandbox(sinch, backend: backend)
            let code = sinch.fake.issueCode()
            let added = try await sandbox.cli.run(
                ["add", "--code-stdin", "--project", "p1", "--label", "Acme", "--json"],
                stdin: code + "\n"
            )
            try #require(added.status == 0, "\(added.stderr)")
            let record = try #require(try CLIJSON.parse(added.stdout).object)
            let id = try #require(record["id"]?.string)
            #expect(record["state"]?.string == "active")
            #expect(record["project"]?.string == "p1")

            let token = try await sandbox.succeed("get", id).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(sinch.fake.isValid(token))
            #expect(!added.everything.contains(code))
            #expect(!added.everything.contains(token))
            let audit = try await sandbox.succeed("audit", "--token", id, "--json").stdout
            #expect(audit.contains(#""event":"exchanged""#))
            #expect(!audit.contains(token) && !audit.contains(code))
            #expect(sinch.fake.stats().exchangesPerLineage[sinch.fake.lineage(of: token) ?? ""] == 1)
        }
    }

    @Test(arguments: TestBackend.all)
    func aUsedCodeExits65AndStoresNothing(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await sandbox(sinch, backend: backend)
            let code = sinch.fake.issueCode()
            let first = try await sandbox.cli.run(["add", "--code-stdin", "--project", "p1"], stdin: code)
            #expect(first.status == 0)
            let second = try await sandbox.cli.run(["add", "--code-stdin", "--project", "p1"], stdin: code)
            #expect(second.status == 65)
            #expect(second.stderr.contains("invalid_facebook_code"))
            #expect(!second.everything.contains(code))
            #expect(try await sandbox.listJSON().count == 1)
        }
    }

    @Test(arguments: TestBackend.all)
    func refusedCredentialsExit69AndNameTheirSource(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            let secret = "not-the-secret-4242"
            let sandbox = try await sandbox(sinch, environment: ["SINCH_KEY_SECRET": secret], backend: backend)
            let code = sinch.fake.issueCode()
            let result = try await sandbox.cli.run(["add", "--code-stdin", "--project", "p1"], stdin: code)
            #expect(result.status == 69)
            #expect(result.stderr.contains("the environment (SINCH_KEY_ID, SINCH_KEY_SECRET)"))
            #expect(!result.everything.contains(secret))
            #expect(try await sandbox.listJSON().isEmpty)
        }
    }

    @Test(arguments: TestBackend.all)
    func refusedCredentialsFromTheConfigFileNameTheFile(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            var sandbox = try await sandbox(sinch, backend: backend)
            sandbox.cli.environment["SINCH_KEY_ID"] = nil
            sandbox.cli.environment["SINCH_KEY_SECRET"] = nil
            let config = sandbox.directory.file("tokenkeeper.yaml")
            try CLIFiles.write(
                "sinch:\n  key_id: \(sinch.configuration.keyID)\n  key_secret: wrong-yaml-secret\n",
                to: config
            )
            let result = try await sandbox.cli.run([
                "enable-template-analytics", "--project", "p1", "--config", config,
            ])
            #expect(result.status == 69)
            #expect(result.stderr.contains("config file \(config)"))
            #expect(!result.everything.contains("wrong-yaml-secret"))
        }
    }

    @Test(arguments: TestBackend.all)
    func missingCredentialsAreAConfigurationError(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            var sandbox = try await sandbox(sinch, backend: backend)
            sandbox.cli.environment["SINCH_KEY_SECRET"] = nil
            let code = sinch.fake.issueCode()
            let result = try await sandbox.cli.run(["add", "--code-stdin", "--project", "p1"], stdin: code)
            #expect(result.status == 64)
            #expect(result.stderr.contains("SINCH_KEY_SECRET"))
            // Nothing was sent: the code is still good.
            #expect(sinch.fake.stats().count(.longLivedAccessToken) == 0)
        }
    }

    @Test func aWrongMasterKeyStopsBeforeTheCodeIsSpent() async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await sandbox(
                sinch,
                environment: ["TOKENKEEPER_MASTER_KEY": Data(repeating: 7, count: 32).base64EncodedString()]
            )
            let code = sinch.fake.issueCode()
            let result = try await sandbox.cli.run(["add", "--code-stdin", "--project", "p1"], stdin: code)
            #expect(result.status == 74)
            #expect(sinch.fake.stats().count(.longLivedAccessToken) == 0)
        }
    }

    @Test func aCodeReplacesATokenThatNeedsReauth() async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await sandbox(sinch)
            let id = try await sandbox.add(sinch.fake.issueToken(), project: "p1")
            _ = try CLISQLite.run(
                sandbox.databasePath,
                "UPDATE tokens SET state = 'needs_reauth', failures = 3, last_error = '{\"class\":\"permanent\",\"code\":\"invalid_facebook_token\",\"status\":400,\"message\":\"invalid\",\"at\":1795600800}' WHERE id = '\(id)'"
            )
            let code = sinch.fake.issueCode()
            let result = try await sandbox.cli.run(["add", "--code-stdin", "--replace", id], stdin: code)
            try #require(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.trimmingCharacters(in: .newlines) == id)
            let token = try await sandbox.succeed("get", id).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(sinch.fake.lineage(of: token) != nil)
            #expect(
                try await sandbox.succeed("audit", "--token", id, "--json").stdout.contains(#""event":"replaced""#)
            )
            let record = try await #require(try CLIJSON.parse(sandbox.succeed("show", id, "--json").stdout).object)
            #expect(record["state"]?.string == "active")
            #expect(record["failures"] == .integer(0))
            #expect(record["last_error"] == .null)
        }
    }

    @Test(arguments: TestBackend.all)
    func wabasListsWhatTheTokenReaches(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await sandbox(sinch, backend: backend)
            let token = sinch.fake.issueToken()
            let id = try await sandbox.add(token)
            let json = try await sandbox.cli.run(["wabas", id, "--json"])
            try #require(json.status == 0, "\(json.stderr)")
            let wabas = try #require(try CLIJSON.parse(json.stdout).array)
            let first = try #require(wabas.first?.object)
            #expect(first["id"]?.string != nil)
            #expect(first["name"]?.string?.isEmpty == false)
            let number = try #require(first["numbers"]?.array?.first?.object)
            #expect(number["id"]?.string != nil)
            #expect(number["display_phone_number"]?.string != nil)
            #expect(number["provisioned"]?.bool == true)
            let text = try await sandbox.cli.run(["wabas", id])
            #expect(text.status == 0)
            #expect(text.stdout.hasPrefix("WABA "))
            #expect(!(json.everything + text.everything).contains(token))
        }
    }

    @Test(arguments: TestBackend.all)
    func wabasWithARevokedTokenExits65(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await sandbox(sinch, backend: backend)
            let token = sinch.fake.issueToken()
            let id = try await sandbox.add(token)
            sinch.fake.revoke(token: token)
            let result = try await sandbox.cli.run(["wabas", id])
            #expect(result.status == 65)
            #expect(result.stderr.contains("invalid_facebook_token"))
            #expect(!result.everything.contains(token))
        }
    }

    @Test(arguments: TestBackend.all)
    func enableTemplateAnalyticsCallsSinch(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await sandbox(sinch, backend: backend)
            let result = try await sandbox.cli.run(["enable-template-analytics", "--project", "p1"])
            #expect(result.status == 0)
            #expect(sinch.fake.stats().count(.enableTemplateAnalytics, status: 200) == 1)
            // The OAuth2 token request and the call, both under the tool's own name and version.
            let version = try await sandbox.succeed("--version").stdout.trimmingCharacters(
                in: .whitespacesAndNewlines
            )
            #expect(sinch.fake.stats().userAgents == ["tokenkeeper/\(version)": 2])
            sinch.fake.inject(
                FakeSinchFaultRule(.error(status: 500, code: "internal_error"), endpoint: .enableTemplateAnalytics)
            )
            let failed = try await sandbox.cli.run(["enable-template-analytics", "--project", "p1"])
            #expect(failed.status == 69)
            #expect(failed.stderr.contains("internal_error"))
        }
    }

    @Test(arguments: TestBackend.all)
    func throttlingExits69WithTheWait(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await sandbox(sinch, backend: backend)
            sinch.fake.inject(
                FakeSinchFaultRule(.tooManyRequests(retryAfter: "12"), endpoint: .enableTemplateAnalytics)
            )
            let result = try await sandbox.cli.run(["enable-template-analytics", "--project", "p1"])
            #expect(result.status == 69)
            #expect(result.stderr.contains("throttling"))
            #expect(result.stderr.contains("retry after 12s"))
        }
    }

    @Test func enableTemplateAnalyticsNeedsNoDatabase() async throws {
        try await SinchHarness.with { sinch in
            var sandbox = try await sandbox(sinch)
            sandbox.cli.environment["TOKENKEEPER_DB"] = sandbox.directory.file("nowhere/none.sqlite")
            let result = try await sandbox.cli.run(["enable-template-analytics", "--project", "p1"])
            #expect(result.status == 0, "\(result.stderr)")
        }
    }

    /// Refused before anything is sent, so a single-use code is never spent on a doomed add.
    @Test(arguments: [
        (["--business-manager", "SINCH_MARS"], [String: String](), "SINCH_MARS"),
        (["--expires-at", "2030-01-01T00:00:00Z"], [:], "--expires-at"),
        ([], ["TOKENKEEPER_HTTP_TIMEOUT": "0s"], "http.timeout"),
        ([], ["SINCH_CA_BUNDLE": "/nonexistent/ca.pem"], "/nonexistent/ca.pem"),
    ])
    func badSettingsExit64WithoutSpendingTheCode(
        arguments: [String],
        environment: [String: String],
        named: String
    ) async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await sandbox(sinch, environment: environment)
            let code = sinch.fake.issueCode()
            let result = try await sandbox.cli.run(
                ["add", "--code-stdin", "--project", "p1"] + arguments,
                stdin: code
            )
            #expect(result.status == 64)
            #expect(result.stderr.contains(named))
            #expect(sinch.fake.stats().count(.longLivedAccessToken) == 0)
        }
    }

    /// `sinch.invalid` cannot resolve: the call succeeds only through the proxy, which is FakeSinch
    /// itself answering the absolute-form request line a proxy receives. Plain HTTP to a host
    /// that is not loopback goes only with `sinch.allow_insecure_http`, and says so.
    @Test func theProxyVariablesAreHonoured() async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await sandbox(
                sinch,
                environment: [
                    "http_proxy": sinch.fake.baseURL,
                    "SINCH_PROVISIONING_URL": "http://sinch.invalid",
                    "SINCH_AUTH_URL": "http://auth.sinch.invalid/oauth2/token",
                    "SINCH_ALLOW_INSECURE_HTTP": "true",
                ]
            )
            let result = try await sandbox.cli.run(["enable-template-analytics", "--project", "p1"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(sinch.fake.stats().count(.enableTemplateAnalytics, status: 200) == 1)
            #expect(sinch.fake.stats().count(.oauthToken, status: 200) == 1)
            #expect(result.stderr.contains("sending the Sinch access key and tokens in clear"), "\(result.stderr)")
        }
    }

    /// The same proxy would carry a plain-HTTP call to FakeSinch, so a refusal that came after
    /// sending would show there: none reaches it, whichever URL is plain, and exit 64 names it.
    @Test(arguments: [
        ("SINCH_PROVISIONING_URL", "http://sinch.invalid", "sinch.provisioning_url"),
        ("SINCH_AUTH_URL", "http://auth.sinch.invalid/oauth2/token", "sinch.auth_url"),
    ])
    func plainHTTPToAnotherHostIsRefusedBeforeAnythingIsSent(variable: String, url: String, key: String) async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await sandbox(sinch, environment: ["http_proxy": sinch.fake.baseURL, variable: url])
            let token = sinch.fake.issueToken()
            let id = try await sandbox.add(token)
            for arguments in [["enable-template-analytics", "--project", "p1"], ["refresh", id], ["run-once"]] {
                let result = try await sandbox.cli.run(arguments)
                #expect(result.status == 64, "\(arguments): \(result.stderr)")
                #expect(result.stderr.contains("refusing plain http:// to"), "\(result.stderr)")
                #expect(result.stderr.contains("\(key) (\(variable))"), "\(result.stderr)")
            }
            #expect(sinch.fake.stats().requests.isEmpty, "\(sinch.fake.stats().requests)")
        }
    }

    @Test func anUnreachableSinchExits69() async throws {
        try await SinchHarness.with { sinch in
            // Port 9 (discard) on loopback: nothing listens there.
            let sandbox = try await sandbox(
                sinch,
                environment: ["SINCH_PROVISIONING_URL": "http://127.0.0.1:9", "SINCH_AUTH": "basic"]
            )
            let result = try await sandbox.cli.run(["enable-template-analytics", "--project", "p1"])
            #expect(result.status == 69)
            #expect(result.stderr.contains("connection_error"))
        }
    }
}
