import Foundation
import Testing
import TokenKeeper
import TokenKeeperTesting

/// The file-mode rules of <doc:Operations#Permissions>: what others may write is refused, what
/// holds a secret is its owner's alone, and the store tokenkeeper creates is 0600 by any path.
@Suite struct FileModesCLITests {
    @Test func initThroughADanglingSymlinkCreatesTheDatabase0600() async throws {
        let sandbox = CLISandbox(uninitializedWith: [:])
        let target = sandbox.directory.file("elsewhere/tk.sqlite")
        try FileManager.default.createDirectory(
            atPath: sandbox.directory.file("elsewhere"),
            withIntermediateDirectories: true
        )
        let link = sandbox.directory.file("link.sqlite")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        var cli = sandbox.cli
        cli.environment["TOKENKEEPER_DB"] = link
        cli.environment["TOKENKEEPER_MASTER_KEY_FILE"] = sandbox.directory.file("tk.key")
        let result = try await cli.run(["init"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try CLIFiles.mode(target) == 0o600)
        let added = try await cli.run(["add", "--project", "p1"], stdin: CLISecret.make() + "\n")
        #expect(added.status == 0, "\(added.stderr)")
        for file in [target + "-wal", target + "-shm"] where CLIFiles.exists(file) {
            #expect(try CLIFiles.mode(file) == 0o600, "\(file)")
        }
    }

    @Test(arguments: [0o666, 0o620, 0o602])
    func aDatabaseOthersMayWriteIsRefused(mode: Int) async throws {
        let sandbox = try await CLISandbox()
        _ = try await sandbox.add(CLISecret.make())
        chmod(sandbox.databasePath, mode_t(mode))
        for arguments in [["list"], ["add", "--project", "p1"], ["run-once"]] {
            let result = try await sandbox.cli.run(arguments, stdin: CLISecret.make() + "\n")
            #expect(result.status == 64, "\(arguments): \(result.stderr)")
            #expect(
                result.stderr.contains(
                    "refusing database \(sandbox.databasePath): it is writable by group or others (mode \(String(mode, radix: 8)))"
                ),
                "\(result.stderr)"
            )
        }
        chmod(sandbox.databasePath, 0o600)
        #expect(try await sandbox.listJSON().count == 1)
    }

    @Test func aDatabaseOthersMayReadWorksWithAWarningAndAGroupReadableOneQuietly() async throws {
        let sandbox = try await CLISandbox()
        _ = try await sandbox.add(CLISecret.make())
        chmod(sandbox.databasePath, 0o644)
        let open = try await sandbox.run("list", "--json")
        #expect(open.status == 0, "\(open.stderr)")
        #expect(open.stderr.contains("database \(sandbox.databasePath) is readable by other users (mode 644)"))
        // SQLite gave the -wal and -shm files the database's mode of the moment: they follow it.
        for file in ["", "-wal", "-shm"] { chmod(sandbox.databasePath + file, 0o640) }
        let group = try await sandbox.run("list", "--json")
        #expect(group.status == 0, "\(group.stderr)")
        #expect(!group.stderr.contains("readable"), "\(group.stderr)")
    }

    @Test func aConfigFileFollowsTheStoresRuleOrTheKeyFilesWhenItHoldsASecret() async throws {
        let sandbox = try await CLISandbox()
        let config = sandbox.directory.file("tokenkeeper.yaml")
        func list(_ text: String, mode: Int) async throws -> CLI.Result {
            try CLIFiles.write(text, to: config)
            chmod(config, mode_t(mode))
            return try await sandbox.cli.run(["list", "--config", config])
        }
        let plain = "limits:\n  rate: 5\n"
        let secret = "sinch:\n  key_id: k\n  key_secret: not-shown-anywhere\n"

        let writable = try await list(plain, mode: 0o666)
        #expect(writable.status == 64)
        #expect(
            writable.stderr.contains("refusing config file \(config): it is writable by group or others (mode 666)")
        )
        let readable = try await list(plain, mode: 0o644)
        #expect(readable.status == 0, "\(readable.stderr)")
        #expect(readable.stderr.contains("config file \(config) is readable by other users (mode 644)"))
        for mode in [0o644, 0o640] {
            let exposed = try await list(secret, mode: mode)
            #expect(exposed.status == 64)
            #expect(
                exposed.stderr.contains(
                    "refusing config file \(config): it holds a secret and is readable by group or others (mode \(String(mode, radix: 8)))"
                ),
                "\(exposed.stderr)"
            )
            #expect(!exposed.everything.contains("not-shown-anywhere"))
        }
        let kept = try await list(secret, mode: 0o600)
        #expect(kept.status == 0, "\(kept.stderr)")
        #expect(!kept.stderr.contains("readable"), "\(kept.stderr)")
    }

    @Test(.enabled(if: geteuid() == 0, "chown to another user needs root"))
    func aKeyFileAnotherUserOwnsIsRefused() async throws {
        let sandbox = try await CLISandbox()
        chown(sandbox.keyFilePath, 65_534, 65_534)
        let result = try await sandbox.cli.run(["add", "--project", "p1"], stdin: CLISecret.make() + "\n")
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains("refusing key file \(sandbox.keyFilePath): it is owned by uid 65534"))
        chown(sandbox.keyFilePath, 0, 0)
        #expect(try await sandbox.listJSON().isEmpty)
    }

    @Test func aBackupByCopyIs0600() async throws {
        let sandbox = try await CLISandbox()
        _ = try await sandbox.add(CLISecret.make())
        let backup = sandbox.directory.file("backup/tk.sqlite")
        try await sandbox.succeed("copy", "--to", backup)
        #expect(try CLIFiles.mode(backup) == 0o600)
    }

    /// A keyring that is a symlink (into a secrets mount, to the copy that is backed up) is
    /// written through by `key rotate` and `key retire`: the link stays a link, and its target,
    /// replaced atomically beside itself, holds the new keys.
    @Test(arguments: TestBackend.all)
    func keyRotateWritesThroughASymlinkedKeyring(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let tokens = try await KeyRotationCLITests.addTokens(2, sandbox)
        let link = sandbox.keyFilePath
        let secrets = sandbox.directory.file("secrets")
        try FileManager.default.createDirectory(atPath: secrets, withIntermediateDirectories: true)
        let target = secrets + "/tokenkeeper.key"
        try FileManager.default.moveItem(atPath: link, toPath: target)
        // Relative, as `ln -s` usually leaves it: resolved from the link's folder, not the cwd.
        let relative =
            String(repeating: "../", count: link.split(separator: "/").count - 1) + String(target.dropFirst())
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: relative)
        let before = try KeyRotationCLITests.ring(sandbox)

        try await sandbox.succeed("key", "rotate")

        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == relative, "the link is a link")
        let text = try String(contentsOfFile: target, encoding: .utf8)
        let rotated = try Keyring(fileText: text, source: .file(target))
        #expect(rotated.entries.count == 2 && rotated.currentID != before.currentID)
        #expect(try CLIFiles.mode(target) == 0o600)
        try await KeyRotationCLITests.expectOpen(tokens, sandbox)

        try await sandbox.succeed("key", "retire", before.currentID)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == relative)
        #expect(
            try Keyring(fileText: String(contentsOfFile: target, encoding: .utf8), source: .file(target)).entries.map(
                \.id
            ) == [rotated.currentID]
        )
        try await KeyRotationCLITests.expectOpen(tokens, sandbox)
        let folders = [secrets, (link as NSString).deletingLastPathComponent]
        #expect(
            try folders.flatMap { try FileManager.default.contentsOfDirectory(atPath: $0) }.allSatisfy {
                !$0.contains(".new.")
            }
        )
    }
}
