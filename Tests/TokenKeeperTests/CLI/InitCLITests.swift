import Foundation
import Testing
import TokenKeeperTesting

/// `tokenkeeper init`: create the database and a master key file (0600).
@Suite struct InitCLITests {
    @Test func initCreatesDatabaseAndKeyFileReadableByTheOwnerAlone() async throws {
        let sandbox = try await CLISandbox(initialized: false)
        // The default test database lives in a folder that does not exist yet.
        #expect(!CLIFiles.exists(sandbox.directory.file("state")))

        let result = try await sandbox.succeed("init")

        #expect(CLIFiles.exists(sandbox.databasePath))
        #expect(CLIFiles.exists(sandbox.keyFilePath))
        #expect(try CLIFiles.mode(sandbox.databasePath) == 0o600)
        #expect(try CLIFiles.mode(sandbox.keyFilePath) == 0o600)
        #expect(result.stdout.contains(sandbox.databasePath))
        #expect(result.stdout.contains(sandbox.keyFilePath))
    }

    @Test func initCreatesTheMissingParentFolderClosedToOthers() async throws {
        let sandbox = try await CLISandbox(initialized: false)
        let database = sandbox.directory.file("deep/er/tokens.sqlite")

        try await sandbox.succeed("init", "--db", database)

        #expect(CLIFiles.exists(database))
        #expect(try CLIFiles.mode(sandbox.directory.file("deep/er")) & 0o077 == 0)
        // The key file goes beside the database.
        #expect(try CLIFiles.mode(sandbox.directory.file("deep/er/tokenkeeper.key")) == 0o600)
    }

    @Test func keyFileHoldsBase64OfThirtyTwoBytes() async throws {
        let sandbox = try await CLISandbox()
        let text = String(decoding: try #require(CLIFiles.bytes(sandbox.keyFilePath)), as: UTF8.self)
        let key = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(key?.count == 32)
    }

    @Test func secondInitChangesNothingAndExitsZero() async throws {
        let sandbox = try await CLISandbox()
        let id = try await sandbox.add(CLISecret.make())
        let key = CLIFiles.bytes(sandbox.keyFilePath)
        let listed = try await sandbox.succeed("list", "--json").stdout
        let audited = try await sandbox.succeed("audit", "--json").stdout

        let again = try await sandbox.run("init")

        #expect(again.status == 0, "stderr: \(again.stderr)")
        #expect(again.stdout.contains("nothing changed"))
        #expect(CLIFiles.bytes(sandbox.keyFilePath) == key)
        #expect(try CLIFiles.mode(sandbox.keyFilePath) == 0o600)
        #expect(try await sandbox.succeed("list", "--json").stdout == listed)
        #expect(try await sandbox.succeed("audit", "--json").stdout == audited)
        #expect(try await sandbox.listedIDs() == [id])
    }

    @Test func initWithTheMasterKeyInTheEnvironmentWritesNoKeyFile() async throws {
        let key = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let sandbox = try await CLISandbox(initialized: false, environment: ["TOKENKEEPER_MASTER_KEY": key])

        try await sandbox.succeed("init")

        #expect(CLIFiles.exists(sandbox.databasePath))
        #expect(!CLIFiles.exists(sandbox.keyFilePath))
        let token = CLISecret.make()
        let id = try await sandbox.add(token)
        #expect(try await sandbox.succeed("get", id).stdout == token + "\n")
    }

    @Test func initWithTheWrongMasterKeyFailsAndChangesNothing() async throws {
        var sandbox = try await CLISandbox()
        try await sandbox.add(CLISecret.make())
        let listed = try await sandbox.succeed("list", "--json").stdout
        let audited = try await sandbox.succeed("audit", "--json").stdout
        sandbox.cli.environment["TOKENKEEPER_MASTER_KEY"] = Data(repeating: 7, count: 32).base64EncodedString()

        let result = try await sandbox.run("init")

        #expect(result.status == 74)
        #expect(result.stderr.contains("does not match"))
        sandbox.cli.environment["TOKENKEEPER_MASTER_KEY"] = nil
        #expect(try await sandbox.succeed("list", "--json").stdout == listed)
        #expect(try await sandbox.succeed("audit", "--json").stdout == audited)
    }

    @Test func initOnADatabaseWhoseKeyFileIsGoneRefusesToMakeANewKey() async throws {
        let sandbox = try await CLISandbox()
        try await sandbox.add(CLISecret.make())
        try FileManager.default.removeItem(atPath: sandbox.keyFilePath)

        let result = try await sandbox.run("init")

        #expect(result.status == 64)
        #expect(result.stderr.contains("key file"))
        #expect(!CLIFiles.exists(sandbox.keyFilePath))
    }
}
