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
    func wrongMasterKeyExitsSeventyFourAndWritesNothing(command: KeyedCommand) throws {
        var sandbox = try CLISandbox()
        let id = try sandbox.add(CLISecret.make())
        let listed = try sandbox.succeed("list", "--json").stdout
        let audited = try sandbox.succeed("audit", "--json").stdout
        sandbox.cli.environment["TOKENKEEPER_MASTER_KEY"] = Self.randomKey()

        let arguments = command.arguments.map { $0 == "ID" ? id : $0 }
        let result = try sandbox.cli.run(arguments, stdin: command.stdin)

        #expect(result.status == 74)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("does not match"), "stderr: \(result.stderr)")
        #expect(try sandbox.succeed("list", "--json").stdout == listed)
        #expect(try sandbox.succeed("audit", "--json").stdout == audited)
        #expect(try sandbox.auditJSON().count == 1)
        #expect(try sandbox.succeed("audit", "verify").status == 0)
    }

    @Test func masterKeyThatIsNotBase64OfThirtyTwoBytesIsAConfigurationError() throws {
        var sandbox = try CLISandbox()
        let id = try sandbox.add(CLISecret.make())
        for bad in ["not base64!", Data(repeating: 1, count: 16).base64EncodedString()] {
            sandbox.cli.environment["TOKENKEEPER_MASTER_KEY"] = bad

            let result = try sandbox.run("get", id)

            #expect(result.status == 64)
            #expect(result.stderr.contains("TOKENKEEPER_MASTER_KEY"))
            #expect(!result.stderr.contains(bad))
        }
    }

    @Test(arguments: keyedCommands)
    func keyFileOpenToOthersIsRefused(command: KeyedCommand) throws {
        let sandbox = try CLISandbox()
        let id = try sandbox.add(CLISecret.make())
        let listed = try sandbox.succeed("list", "--json").stdout
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: sandbox.keyFilePath)

        let arguments = command.arguments.map { $0 == "ID" ? id : $0 }
        let result = try sandbox.cli.run(arguments, stdin: command.stdin)

        #expect(result.status == 64)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains(sandbox.keyFilePath), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("chmod 600"), "stderr: \(result.stderr)")
        #expect(try sandbox.succeed("list", "--json").stdout == listed)
        #expect(try sandbox.auditJSON().count == 1)
    }

    @Test(arguments: [["list"], ["list", "--json"], ["show", "tk_000000000000"], ["audit"], ["remove", "tk_0"]])
    func missingDatabaseIsADatabaseErrorAndCreatesNoFile(arguments: [String]) throws {
        let sandbox = try CLISandbox(initialized: false)

        let result = try sandbox.cli.run(arguments)

        #expect(result.status == 74)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains(sandbox.databasePath))
        #expect(!CLIFiles.exists(sandbox.databasePath))
    }

    @Test func missingDatabaseForAddIsADatabaseError() throws {
        let key = Self.randomKey()
        let sandbox = try CLISandbox(initialized: false, environment: ["TOKENKEEPER_MASTER_KEY": key])

        let result = try sandbox.run("add", "--project", "p1", stdin: CLISecret.make())

        #expect(result.status == 74)
        #expect(!CLIFiles.exists(sandbox.databasePath))
    }

    @Test(arguments: [["list"], ["show", "tk_000000000000"], ["audit", "verify"], ["get", "tk_000000000000"]])
    func corruptDatabaseIsADatabaseError(arguments: [String]) throws {
        let sandbox = try CLISandbox()
        let garbage = Data((0..<8_192).map { _ in UInt8.random(in: 0...255) })
        try garbage.write(to: URL(fileURLWithPath: sandbox.databasePath))

        let result = try sandbox.cli.run(arguments)

        #expect(result.status == 74)
        #expect(result.stderr.contains(sandbox.databasePath))
    }

    @Test func databaseOfAnotherProgramIsADatabaseError() throws {
        let sandbox = try CLISandbox(initialized: false)
        try FileManager.default.createDirectory(
            atPath: sandbox.directory.file("state"),
            withIntermediateDirectories: true
        )
        _ = try CLISQLite.run(sandbox.databasePath, "CREATE TABLE notes (body TEXT)")

        let result = try sandbox.run("list")

        #expect(result.status == 74)
    }

    @Test func missingConfigFileIsAConfigurationError() throws {
        let sandbox = try CLISandbox()
        let path = sandbox.directory.file("nope.yaml")

        let result = try sandbox.run("list", "--config", path)

        #expect(result.status == 64)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains(path))
    }

    @Test func missingConfigFileFromTheEnvironmentIsAConfigurationError() throws {
        var sandbox = try CLISandbox()
        let path = sandbox.directory.file("nope.yaml")
        sandbox.cli.environment["TOKENKEEPER_CONFIG"] = path

        let result = try sandbox.run("list")

        #expect(result.status == 64)
        #expect(result.stderr.contains(path))
    }

    @Test(.enabled(if: geteuid() != 0, "root reads any file"))
    func unreadableConfigFileIsAConfigurationError() throws {
        let sandbox = try CLISandbox()
        let path = sandbox.directory.file("secret.yaml")
        try CLIFiles.write("policy:\n  lifetime: 30d\n", to: path)
        try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: path)

        let result = try sandbox.run("list", "--config", path)

        #expect(result.status == 64)
        #expect(result.stderr.contains(path))
    }

    @Test(arguments: ["policy: [unclosed\n", "- just\n- a list\n", "DIRECTORY"])
    func configFileThatIsNotAYAMLMappingIsAConfigurationError(content: String) throws {
        let sandbox = try CLISandbox()
        let path = sandbox.directory.file("config.yaml")
        if content == "DIRECTORY" {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        } else {
            try CLIFiles.write(content, to: path)
        }

        let result = try sandbox.run("list", "--config", path)

        #expect(result.status == 64)
        #expect(result.stderr.contains(path))
    }

    @Test func badLifetimeInTheEnvironmentNamesTheSettingAndTheValue() throws {
        var sandbox = try CLISandbox()
        sandbox.cli.environment["TOKENKEEPER_LIFETIME"] = "abc"

        let result = try sandbox.run("list")

        #expect(result.status == 64)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("policy.lifetime"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("abc"))
    }

    @Test func badLifetimeInTheConfigFileNamesTheSettingAndTheValue() throws {
        let sandbox = try CLISandbox()
        let path = sandbox.directory.file("config.yaml")
        try CLIFiles.write("policy:\n  lifetime: sixty days\n", to: path)

        let result = try sandbox.run("list", "--config", path)

        #expect(result.status == 64)
        #expect(result.stderr.contains("policy.lifetime"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("sixty days"))
    }

    @Test(arguments: [
        ["TOKENKEEPER_RENEW_BEFORE", "policy.renew_before"], ["TOKENKEEPER_MIN_AGE", "policy.min_age"],
        ["TOKENKEEPER_BACKOFF_MIN", "policy.backoff_min"], ["TOKENKEEPER_BACKOFF_MAX", "policy.backoff_max"],
        ["TOKENKEEPER_HTTP_TIMEOUT", "http.timeout"],
    ])
    func badDurationSettingNamesItsKeyAndValue(setting: [String]) throws {
        var sandbox = try CLISandbox()
        sandbox.cli.environment[setting[0]] = "5 minutes"

        let result = try sandbox.run("list")

        #expect(result.status == 64)
        #expect(result.stderr.contains(setting[1]), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("5 minutes"))
    }

    @Test(arguments: [["frobnicate"], ["list", "--colour"], ["show"], ["get"], ["remove"]])
    func commandLineThatCannotWorkIsAUsageError(arguments: [String]) throws {
        let sandbox = try CLISandbox()

        let result = try sandbox.cli.run(arguments)

        #expect(result.status == 64)
        #expect(result.stdout.isEmpty)
    }

    @Test func errorsGoToStandardErrorAsOneLine() throws {
        let sandbox = try CLISandbox()

        let result = try sandbox.run("show", "tk_000000000000")

        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("tokenkeeper: error: "))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }
}
