import Foundation
import Testing
import TokenKeeperTesting

/// The exit codes of the CLI contract (TokenKeeper.docc/CLIContract.md) for bad keys, bad files and bad settings: 64, 65, 74.
@Suite struct ExitCodeCLITests {
    /// A command that needs the master key, with the input it reads.
    struct KeyedCommand: Sendable, CustomTestStringConvertible {
        var arguments: [String]
        var stdin: String?
        var testDescription: String { arguments.joined(separator: " ") }
    }

    /// `ID` stands for a stored token's id.
    static let keyedCommands: [KeyedCommand] = [
        KeyedCommand(arguments: ["add", "--project", "p1"], stdin: "EAAwrongkey"),
        KeyedCommand(arguments: ["add", "--replace", "ID"], stdin: "EAAwrongkey"),
        KeyedCommand(arguments: ["get", "ID"]),
        KeyedCommand(arguments: ["import", "-"], stdin: #"{"project":"p1","token":"EAAwrongkey"}"#),
    ]

    private static func randomKey() -> String {
        Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
    }

    @Test(arguments: keyedCommands)
    func wrongMasterKeyExitsSeventyFourAndWritesNothing(command: KeyedCommand) async throws {
        var sandbox = try await CLISandbox()
        let id = try await sandbox.add(CLISecret.make())
        let listed = try await sandbox.succeed("list", "--json").stdout
        let audited = try await sandbox.succeed("audit", "--json").stdout
        sandbox.cli.environment["TOKENKEEPER_MASTER_KEY"] = Self.randomKey()

        let arguments = command.arguments.map { $0 == "ID" ? id : $0 }
        let result = try await sandbox.cli.run(arguments, stdin: command.stdin)

        #expect(result.status == 74)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("does not match"), "stderr: \(result.stderr)")
        #expect(try await sandbox.succeed("list", "--json").stdout == listed)
        #expect(try await sandbox.succeed("audit", "--json").stdout == audited)
        #expect(try await sandbox.auditJSON().count == 1)
        sandbox.cli.environment["TOKENKEEPER_MASTER_KEY"] = nil
        #expect(try await sandbox.succeed("audit", "verify").stdout.contains("seal verified"))
    }

    @Test(arguments: TestBackend.all)
    func masterKeyThatIsNotBase64OfThirtyTwoBytesIsAConfigurationError(_ backend: TestBackend) async throws {
        var sandbox = try await CLISandbox(backend: backend)
        let id = try await sandbox.add(CLISecret.make())
        for bad in ["not base64!", Data(repeating: 1, count: 16).base64EncodedString()] {
            sandbox.cli.environment["TOKENKEEPER_MASTER_KEY"] = bad

            let result = try await sandbox.run("get", id)

            #expect(result.status == 64)
            #expect(result.stderr.contains("TOKENKEEPER_MASTER_KEY"))
            #expect(!result.stderr.contains(bad))
        }
    }

    @Test(arguments: keyedCommands)
    func keyFileOpenToOthersIsRefused(command: KeyedCommand) async throws {
        let sandbox = try await CLISandbox()
        let id = try await sandbox.add(CLISecret.make())
        let listed = try await sandbox.succeed("list", "--json").stdout
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: sandbox.keyFilePath)

        let arguments = command.arguments.map { $0 == "ID" ? id : $0 }
        let result = try await sandbox.cli.run(arguments, stdin: command.stdin)

        #expect(result.status == 64)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains(sandbox.keyFilePath), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("chmod 600"), "stderr: \(result.stderr)")
        #expect(try await sandbox.succeed("list", "--json").stdout == listed)
        #expect(try await sandbox.auditJSON().count == 1)
    }

    @Test(arguments: [["list"], ["list", "--json"], ["show", "tk_000000000000"], ["audit"], ["remove", "tk_0"]])
    func missingDatabaseIsADatabaseErrorAndCreatesNoFile(arguments: [String]) async throws {
        let sandbox = try await CLISandbox(initialized: false)

        let result = try await sandbox.cli.run(arguments)

        #expect(result.status == 74)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains(sandbox.databasePath))
        #expect(!CLIFiles.exists(sandbox.databasePath))
    }

    @Test func missingDatabaseForAddIsADatabaseError() async throws {
        let key = Self.randomKey()
        let sandbox = try await CLISandbox(initialized: false, environment: ["TOKENKEEPER_MASTER_KEY": key])

        let result = try await sandbox.run("add", "--project", "p1", stdin: CLISecret.make())

        #expect(result.status == 74)
        #expect(!CLIFiles.exists(sandbox.databasePath))
    }

    @Test(arguments: [["list"], ["show", "tk_000000000000"], ["audit", "verify"], ["get", "tk_000000000000"]])
    func corruptDatabaseIsADatabaseError(arguments: [String]) async throws {
        let sandbox = try await CLISandbox()
        let garbage = Data((0..<8_192).map { _ in UInt8.random(in: 0...255) })
        try garbage.write(to: URL(fileURLWithPath: sandbox.databasePath))

        let result = try await sandbox.cli.run(arguments)

        #expect(result.status == 74)
        #expect(result.stderr.contains(sandbox.databasePath))
    }

    @Test func databaseOfAnotherProgramIsADatabaseError() async throws {
        let sandbox = try await CLISandbox(initialized: false)
        try FileManager.default.createDirectory(
            atPath: sandbox.directory.file("state"),
            withIntermediateDirectories: true
        )
        _ = try CLISQLite.run(sandbox.databasePath, "CREATE TABLE notes (body TEXT)")

        let result = try await sandbox.run("list")

        #expect(result.status == 74)
    }

    @Test(arguments: TestBackend.all)
    func missingConfigFileIsAConfigurationError(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let path = sandbox.directory.file("nope.yaml")

        let result = try await sandbox.run("list", "--config", path)

        #expect(result.status == 64)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains(path))
    }

    @Test(arguments: TestBackend.all)
    func missingConfigFileFromTheEnvironmentIsAConfigurationError(_ backend: TestBackend) async throws {
        var sandbox = try await CLISandbox(backend: backend)
        let path = sandbox.directory.file("nope.yaml")
        sandbox.cli.environment["TOKENKEEPER_CONFIG"] = path

        let result = try await sandbox.run("list")

        #expect(result.status == 64)
        #expect(result.stderr.contains(path))
    }

    @Test(.enabled(if: geteuid() != 0, "root reads any file"))
    func unreadableConfigFileIsAConfigurationError() async throws {
        let sandbox = try await CLISandbox()
        let path = sandbox.directory.file("secret.yaml")
        try CLIFiles.write("policy:\n  lifetime: 30d\n", to: path)
        try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: path)

        let result = try await sandbox.run("list", "--config", path)

        #expect(result.status == 64)
        #expect(result.stderr.contains(path))
    }

    @Test(arguments: ["policy: [unclosed\n", "- just\n- a list\n", "DIRECTORY"])
    func configFileThatIsNotAYAMLMappingIsAConfigurationError(content: String) async throws {
        let sandbox = try await CLISandbox()
        let path = sandbox.directory.file("config.yaml")
        if content == "DIRECTORY" {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        } else {
            try CLIFiles.write(content, to: path)
        }

        let result = try await sandbox.run("list", "--config", path)

        #expect(result.status == 64)
        #expect(result.stderr.contains(path))
    }

    @Test(arguments: TestBackend.all)
    func badLifetimeInTheEnvironmentNamesTheSettingAndTheValue(_ backend: TestBackend) async throws {
        var sandbox = try await CLISandbox(backend: backend)
        sandbox.cli.environment["TOKENKEEPER_LIFETIME"] = "abc"

        let result = try await sandbox.run("list")

        #expect(result.status == 64)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("policy.lifetime"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("abc"))
    }

    @Test(arguments: TestBackend.all)
    func badLifetimeInTheConfigFileNamesTheSettingAndTheValue(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let path = sandbox.directory.file("config.yaml")
        try CLIFiles.write("policy:\n  lifetime: sixty days\n", to: path)

        let result = try await sandbox.run("list", "--config", path)

        #expect(result.status == 64)
        #expect(result.stderr.contains("policy.lifetime"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("sixty days"))
    }

    @Test(arguments: [
        ["TOKENKEEPER_RENEW_BEFORE", "policy.renew_before"], ["TOKENKEEPER_MIN_AGE", "policy.min_age"],
        ["TOKENKEEPER_BACKOFF_MIN", "policy.backoff_min"], ["TOKENKEEPER_BACKOFF_MAX", "policy.backoff_max"],
        ["TOKENKEEPER_HTTP_TIMEOUT", "http.timeout"],
    ])
    func badDurationSettingNamesItsKeyAndValue(setting: [String]) async throws {
        var sandbox = try await CLISandbox()
        sandbox.cli.environment[setting[0]] = "5 minutes"

        let result = try await sandbox.run("list")

        #expect(result.status == 64)
        #expect(result.stderr.contains(setting[1]), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("5 minutes"))
    }

    @Test(arguments: [["frobnicate"], ["list", "--colour"], ["show"], ["get"], ["remove"]])
    func commandLineThatCannotWorkIsAUsageError(arguments: [String]) async throws {
        let sandbox = try await CLISandbox()

        let result = try await sandbox.cli.run(arguments)

        #expect(result.status == 64)
        #expect(result.stdout.isEmpty)
    }

    @Test(arguments: TestBackend.all)
    func errorsGoToStandardErrorAsOneLine(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)

        let result = try await sandbox.run("show", "tk_000000000000")

        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("tokenkeeper: error: "))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }
}
