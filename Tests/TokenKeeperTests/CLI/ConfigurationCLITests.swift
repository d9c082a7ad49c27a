import Foundation
import Testing
import TokenKeeperTesting

/// Where settings come from: flag > environment variable > YAML config file > default.
@Suite struct ConfigurationCLITests {
    private static let sixtyDays: TimeInterval = 60 * 86_400

    /// The lifetime `add` gave a new token: expires_at minus issued_at, in seconds.
    private func lifetime(ofTokenAddedBy sandbox: CLISandbox, _ extra: String...) async throws -> TimeInterval {
        let result = try await sandbox.cli.run(["add", "--project", "p1", "--json"] + extra, stdin: CLISecret.make())
        try #require(result.status == 0, "add exited \(result.status): \(result.stderr)")
        let object = try CLIJSON.parse(result.stdout)
        let issued = try #require(CLITime.parse(object["issued_at"]?.string ?? ""))
        let expires = try #require(CLITime.parse(object["expires_at"]?.string ?? ""))
        return expires.timeIntervalSince(issued)
    }

    @Test func dbFlagWinsOverTheEnvironment() async throws {
        let sandbox = try await CLISandbox(initialized: false)
        let flagged = sandbox.directory.file("flag/tokens.sqlite")

        try await sandbox.succeed("init", "--db", flagged)

        #expect(CLIFiles.exists(flagged))
        #expect(!CLIFiles.exists(sandbox.databasePath))
    }

    @Test func environmentWinsOverTheConfigFile() async throws {
        let sandbox = try await CLISandbox(initialized: false)
        let config = sandbox.directory.file("config.yaml")
        try CLIFiles.write("database: \(sandbox.directory.file("yaml/tokens.sqlite"))\n", to: config)

        try await sandbox.succeed("init", "--config", config)

        #expect(CLIFiles.exists(sandbox.databasePath))
        #expect(!CLIFiles.exists(sandbox.directory.file("yaml/tokens.sqlite")))
    }

    @Test func configFileSetsTheDatabaseWhenNothingElseDoes() async throws {
        var sandbox = try await CLISandbox(initialized: false)
        sandbox.cli.environment["TOKENKEEPER_DB"] = nil
        let database = sandbox.directory.file("yaml/tokens.sqlite")
        let config = sandbox.directory.file("config.yaml")
        try CLIFiles.write("database: \(database)\n", to: config)

        try await sandbox.succeed("init", "--config", config)
        let id = try await sandbox.add(CLISecret.make(), project: "p1", "--config", config)

        #expect(CLIFiles.exists(database))
        #expect(CLIFiles.exists(sandbox.directory.file("yaml/tokenkeeper.key")))
        #expect(try await sandbox.listedIDs("--config", config) == [id])
    }

    @Test func configFileCanBeNamedByTheEnvironment() async throws {
        var sandbox = try await CLISandbox(initialized: false)
        sandbox.cli.environment["TOKENKEEPER_DB"] = nil
        let database = sandbox.directory.file("yaml/tokens.sqlite")
        let config = sandbox.directory.file("config.yaml")
        try CLIFiles.write("database: \(database)\n", to: config)
        sandbox.cli.environment["TOKENKEEPER_CONFIG"] = config

        try await sandbox.succeed("init")

        #expect(CLIFiles.exists(database))
    }

    @Test func defaultDatabaseLivesUnderXDGStateHome() async throws {
        var sandbox = try await CLISandbox(initialized: false)
        sandbox.cli.environment["TOKENKEEPER_DB"] = nil
        sandbox.cli.environment["XDG_STATE_HOME"] = sandbox.directory.file("xdg")

        try await sandbox.succeed("init")

        #expect(CLIFiles.exists(sandbox.directory.file("xdg/tokenkeeper/tokenkeeper.sqlite")))
        #expect(CLIFiles.exists(sandbox.directory.file("xdg/tokenkeeper/tokenkeeper.key")))
    }

    @Test func defaultDatabaseFallsBackToTheHomeFolder() async throws {
        var sandbox = try await CLISandbox(initialized: false)
        sandbox.cli.environment["TOKENKEEPER_DB"] = nil

        try await sandbox.succeed("init")

        let folder = sandbox.directory.file(".local/state/tokenkeeper")
        #expect(CLIFiles.exists(folder + "/tokenkeeper.sqlite"))
        #expect(try CLIFiles.mode(folder + "/tokenkeeper.key") == 0o600)
    }

    @Test func masterKeyFileCanBeMovedByTheEnvironment() async throws {
        let keyFile = "keys/elsewhere.key"
        let sandbox = try await CLISandbox(initialized: false)
        var moved = sandbox
        moved.cli.environment["TOKENKEEPER_MASTER_KEY_FILE"] = sandbox.directory.file(keyFile)

        try await moved.succeed("init")
        let token = CLISecret.make()
        let id = try await moved.add(token)

        #expect(try CLIFiles.mode(sandbox.directory.file(keyFile)) == 0o600)
        #expect(!CLIFiles.exists(sandbox.keyFilePath))
        await #expect(try moved.succeed("get", id).stdout == token + "\n")
        // Without the setting the key is looked for beside the database, and is not there.
        #expect(try await sandbox.run("get", id).status == 64)
    }

    @Test func masterKeyFileCanBeMovedByTheConfigFile() async throws {
        let sandbox = try await CLISandbox(initialized: false)
        let keyFile = sandbox.directory.file("keys/from-yaml.key")
        let config = sandbox.directory.file("config.yaml")
        try CLIFiles.write("master_key_file: \(keyFile)\n", to: config)

        try await sandbox.succeed("init", "--config", config)

        #expect(try CLIFiles.mode(keyFile) == 0o600)
        #expect(!CLIFiles.exists(sandbox.keyFilePath))
    }

    @Test func masterKeyInTheEnvironmentWinsOverTheKeyFile() async throws {
        var sandbox = try await CLISandbox()
        let id = try await sandbox.add(CLISecret.make())
        let fileKey = String(decoding: try #require(CLIFiles.bytes(sandbox.keyFilePath)), as: UTF8.self)

        sandbox.cli.environment["TOKENKEEPER_MASTER_KEY"] = Data(repeating: 9, count: 32).base64EncodedString()
        #expect(try await sandbox.run("get", id).status == 74)

        sandbox.cli.environment["TOKENKEEPER_MASTER_KEY"] = fileKey.trimmingCharacters(in: .whitespacesAndNewlines)
        try FileManager.default.removeItem(atPath: sandbox.keyFilePath)
        #expect(try await sandbox.run("get", id).status == 0)
    }

    @Test func lifetimeDefaultsToSixtyDays() async throws {
        let sandbox = try await CLISandbox()

        await #expect(try lifetime(ofTokenAddedBy: sandbox) == Self.sixtyDays)
    }

    @Test func lifetimeComesFromTheEnvironment() async throws {
        let sandbox = try await CLISandbox(environment: ["TOKENKEEPER_LIFETIME": "10d"])

        await #expect(try lifetime(ofTokenAddedBy: sandbox) == 10 * 86_400)
    }

    @Test func lifetimeComesFromTheConfigFileUnlessTheEnvironmentSaysOtherwise() async throws {
        var sandbox = try await CLISandbox()
        let config = sandbox.directory.file("config.yaml")
        try CLIFiles.write("policy:\n  lifetime: 20d\n", to: config)

        await #expect(try lifetime(ofTokenAddedBy: sandbox, "--config", config) == 20 * 86_400)
        sandbox.cli.environment["TOKENKEEPER_LIFETIME"] = "30d"
        await #expect(try lifetime(ofTokenAddedBy: sandbox, "--config", config) == 30 * 86_400)
    }

    @Test(arguments: [
        ("policy:\n  lifetme: 30d\n", "policy.lifetme"),
        ("limits:\n  concurency: 8\n", "limits.concurency"),
        ("databse: /tmp/x.sqlite\n", "databse"),
        ("sinch:\n  key_secrett: hunter2-not-shown\n", "sinch.key_secrett"),
    ])
    func aMisspeltKeyIsRefusedByName(yaml: String, key: String) async throws {
        let sandbox = try await CLISandbox()
        let config = sandbox.directory.file("config.yaml")
        try CLIFiles.write(yaml, to: config)
        let token = CLISecret.make()

        // A command that would write: refused before it stores anything.
        let result = try await sandbox.run("add", "--project", "p1", "--config", config, stdin: token + "\n")

        #expect(result.status == 64)
        #expect(result.stderr.contains("unknown key \(key)"), "stderr: \(result.stderr)")
        #expect(!result.everything.contains("hunter2"), "a value is never echoed")
        #expect(try await sandbox.run("list", "--json").stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
    }
}
