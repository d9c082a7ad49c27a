import Foundation
import Testing
import TokenKeeperTesting

/// Token values appear nowhere but in `get`'s standard output: not in the database files, not in
/// any other output, not in error messages about them.
@Suite struct SecretLeakCLITests {
    /// Every byte the program printed, except `get`'s standard output.
    private final class Transcript {
        var text = ""

        func record(_ result: CLI.Result) { text += result.everything }

        func record(_ output: String) { text += output }
    }

    @Test func tokenValuesAppearNowhereButInGetsOutput() async throws {
        let sandbox = try await CLISandbox()
        // Holding a connection open keeps the -wal and -shm files on disk for inspection.
        let holder = try SQLiteConnectionHolder(database: sandbox.databasePath)
        defer { holder.close() }
        let transcript = Transcript()
        func run(_ arguments: String..., stdin: String? = nil) async throws -> CLI.Result {
            let result = try await sandbox.cli.run(arguments, stdin: stdin)
            transcript.record(result)
            return result
        }
        var secrets: [String] = []
        func secret() -> String {
            let value = CLISecret.make()
            secrets.append(value)
            return value
        }

        var ids: [String] = []
        for index in 0..<3 {
            let result = try await run("add", "--project", "p\(index)", "--label", "customer \(index)", stdin: secret())
            ids.append(result.stdout.trimmingCharacters(in: .newlines))
        }
        _ = try await run(
            "add",
            "--project",
            "p9",
            "--json",
            "--expires-at",
            CLITime.format(CLITime.days(2)),
            stdin: secret()
        )
        let file = sandbox.directory.file("import.jsonl")
        try CLIFiles.write(
            (0..<3).map { _ in #"{"project":"imp","token":"\#(secret())","label":"file"}"# }.joined(separator: "\n"),
            to: file
        )
        _ = try await run("import", file, "--json")
        _ = try await run("import", "-", stdin: #"{"project":"imp","token":"\#(secret())"}"# + "\n")
        _ = try await run("add", "--replace", ids[1], "--json", stdin: secret())
        // Failures that hold a token in their input must not echo it.
        _ = try await run("import", "-", stdin: #"{"project":"imp","token":"\#(secret())","colour":"red"}"#)
        _ = try await run("import", "-", stdin: #"{"project":"imp","token":"\#(secret())""#)
        _ = try await run("import", "-", stdin: #"{"project":"imp","token":"\#(secret()) \#(secret())"}"#)
        _ = try await run("add", "--project", "p1", stdin: secret() + " " + secret())
        _ = try await run("add", "--project", "p1", "--expires-at", "2020-01-01T00:00:00Z", stdin: secret())
        var wrongKey = sandbox.cli
        wrongKey.environment["TOKENKEEPER_MASTER_KEY"] = Data(repeating: 3, count: 32).base64EncodedString()
        await transcript.record(try wrongKey.run(["add", "--project", "p1"], stdin: secret()))
        await transcript.record(try wrongKey.run(["get", ids[0]]))
        // Reading everything back.
        _ = try await run("list")
        _ = try await run("list", "--json")
        for id in ids {
            _ = try await run("show", id)
            _ = try await run("show", id, "--json")
        }
        _ = try await run("check")
        _ = try await run("check", "--json")
        _ = try await run("audit")
        _ = try await run("audit", "--json")
        _ = try await run("audit", "verify")
        let revealed = try await sandbox.cli.run(["get", ids[0]])
        #expect(revealed.status == 0)
        #expect(secrets.contains(revealed.stdout.trimmingCharacters(in: .newlines)))
        transcript.record(revealed.stderr)
        _ = try await run("remove", ids[2])
        // Key management: ids in its output and audit, never a key.
        _ = try await run("key", "rotate")
        _ = try await run("key", "list")
        _ = try await run("key", "list", "--json")
        _ = try await run("audit", "head", "--json")
        _ = try await run("audit", "reseal")
        _ = try await run("audit", "restore-triggers")
        _ = try await run("audit", "--json")

        #expect(try await sandbox.listedIDs().count == 7)
        #expect(CLIFiles.exists(sandbox.databasePath + "-wal"))
        #expect(CLIFiles.exists(sandbox.databasePath + "-shm"))
        let files = try FileManager.default.contentsOfDirectory(atPath: sandbox.directory.file("state"))
        // Every key of the keyring (the base64 word of each `key` line, and the fingerprint key).
        let keyFile = String(decoding: try #require(CLIFiles.bytes(sandbox.keyFilePath)), as: UTF8.self)
        let keys = keyFile.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap {
            $0.split(separator: " ").last
        }
        #expect(keys.count == 3, "a fingerprint key and two master keys after one rotation")
        for key in keys.map(String.init) {
            #expect(!transcript.text.contains(key), "output holds a master key")
            for name in files where sandbox.directory.file("state/\(name)") != sandbox.keyFilePath {
                let bytes = try #require(CLIFiles.bytes(sandbox.directory.file("state/\(name)")))
                #expect(bytes.range(of: Data(key.utf8)) == nil, "\(name) holds a master key")
            }
        }
        for secret in secrets {
            #expect(!transcript.text.contains(secret), "output holds \(secret)")
            for name in files {
                let bytes = try #require(CLIFiles.bytes(sandbox.directory.file("state/\(name)")))
                #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(name) holds \(secret)")
            }
        }
    }

    @Test func databaseSideFilesAreReadableByTheOwnerAlone() async throws {
        let sandbox = try await CLISandbox()
        let holder = try SQLiteConnectionHolder(database: sandbox.databasePath)
        defer { holder.close() }

        try await sandbox.add(CLISecret.make())

        for suffix in ["", "-wal", "-shm"] {
            #expect(try CLIFiles.mode(sandbox.databasePath + suffix) == 0o600, "tokenkeeper.sqlite\(suffix)")
        }
    }

    @Test func malformedConfigFileErrorDoesNotQuoteTheSinchKeySecret() async throws {
        let sandbox = try await CLISandbox()
        let keySecret = CLISecret.make("sinchsecret")
        let config = sandbox.directory.file("config.yaml")
        try CLIFiles.write("sinch:\n  key_id: abc\n  key_secret: \(keySecret): [oops\n", to: config)

        let result = try await sandbox.run("list", "--config", config)

        #expect(result.status == 64)
        #expect(!result.everything.contains(keySecret), "stderr: \(result.stderr)")
    }
}
