import FakeSinch
import Foundation
import Testing
import TokenKeeperTesting

@testable import TokenKeeper

/// A token Sinch returned for a single-use code is never lost: a busy database is waited for far
/// past the busy timeout, and past that the token is kept sealed in a recovery file.
@Suite struct ExchangeRecoveryCLITests {
    func exchanges(_ sinch: SinchHarness) -> Int {
        sinch.fake.stats().exchangesPerLineage.values.reduce(0, +)
    }

    /// Starts `add --code-stdin ...` and takes the database's write lock (another process's
    /// `BEGIN EXCLUSIVE`) while Sinch is answering the exchange: before the call the database is
    /// free, so the code is spent, and the insert after it finds the database busy.
    func addWhileTheDatabaseLocks(
        _ sandbox: CLISandbox,
        _ sinch: SinchHarness,
        _ arguments: [String]
    ) async throws -> (code: String, lock: SQLiteConnectionHolder, result: Task<CLI.Result, any Error>) {
        let code = sinch.fake.issueCode()
        sinch.fake.inject(FakeSinchFaultRule(.latency(.seconds(3)), endpoint: .longLivedAccessToken, count: 1))
        let cli = sandbox.cli
        let result = Task { try await cli.run(["add", "--code-stdin"] + arguments, stdin: code + "\n") }
        try await waitUntil("the exchange begun") { sinch.fake.stats().requestsPerSecond.values.reduce(0, +) >= 1 }
        let lock = try SQLiteConnectionHolder(database: sandbox.databasePath, sql: "BEGIN EXCLUSIVE;")
        return (code, lock, result)
    }

    @Test func theTokenWaitsForABusyDatabasePastTheBusyTimeout() async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await CLISandbox.make(sinch: sinch)
            let (code, lock, added) = try await addWhileTheDatabaseLocks(sandbox, sinch, ["--project", "p1"])
            try await waitUntil("the code exchanged") { exchanges(sinch) == 1 }
            // Longer than the 5 s busy timeout, which once made `add` give up and drop the token.
            try await Task.sleep(for: .seconds(6))
            lock.close()
            let result = try await added.value
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.contains("the database is busy"))
            let id = result.stdout.trimmingCharacters(in: .newlines)
            let token = try await sandbox.succeed("get", id).stdout.trimmingCharacters(in: .newlines)
            #expect(sinch.fake.isValid(token))
            #expect(!result.everything.contains(token) && !result.everything.contains(code))
        }
    }

    @Test func aTokenThatCannotBeStoredIsKeptSealedAndRecoveredLater() async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await CLISandbox.make(
                sinch: sinch,
                environment: ["TOKENKEEPER_EXCHANGE_STORE_WAIT": "1s"]
            )
            let (code, lock, adding) = try await addWhileTheDatabaseLocks(
                sandbox,
                sinch,
                ["--project", "p1", "--label", "Acme"]
            )
            let failed = try await adding.value
            lock.close()
            #expect(failed.status == 74, "\(failed.stderr)")
            #expect(exchanges(sinch) == 1)
            let folder = sandbox.directory.file("state")
            let kept = try FileManager.default.contentsOfDirectory(atPath: folder).filter {
                $0.hasPrefix("tokenkeeper-recovery_") && $0.hasSuffix(".json")
            }
            try #require(kept.count == 1, "\(failed.stderr)")
            let file = "\(folder)/\(kept[0])"
            #expect(failed.stderr.contains("tokenkeeper add --recover \(file)"))
            #expect(try CLIFiles.mode(file) == 0o600)
            #expect(try await sandbox.listJSON().isEmpty)

            let recovered = try await sandbox.succeed("add", "--recover", file, "--json")
            let record = try #require(try CLIJSON.parse(recovered.stdout).object)
            let id = try #require(record["id"]?.string)
            #expect(record["label"]?.string == "Acme" && record["project"]?.string == "p1")
            let token = try await sandbox.succeed("get", id).stdout.trimmingCharacters(in: .newlines)
            #expect(sinch.fake.isValid(token))
            // One exchange in all: the recovery called nothing.
            #expect(exchanges(sinch) == 1)
            #expect(!FileManager.default.fileExists(atPath: file))
            let audit = try await sandbox.auditJSON("--token", id, "--event", "exchanged")
            #expect(audit.count == 1)
            #expect(audit.first?["detail"]?["source"]?.string == "recovery")
            for text in [failed.everything, recovered.everything] {
                #expect(!text.contains(token) && !text.contains(code))
            }
        }
    }

    // MARK: - What a recovery file may say

    /// A sandbox holding A and B (project p1) and a recovery file of a new token, sealed with the
    /// sandbox's key as `add --code-stdin` leaves it: for a new record, or to replace A.
    struct Kept {
        var sandbox: CLISandbox
        var stored: [String: String]
        var a: String
        var b: String
        var token: String
        var file: String
    }

    static func keep(
        replacing: Bool,
        _ backend: TestBackend,
        new: NewToken = NewToken(project: "p1")
    ) async throws -> Kept {
        let sandbox = try await CLISandbox(backend: backend)
        let (first, second) = (CLISecret.make(), CLISecret.make())
        let a = try await sandbox.add(first)
        let b = try await sandbox.add(second)
        let folder = sandbox.directory.file("state")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let token = CLISecret.make()
        let file = try RecoveryFile.write(
            token: token,
            new,
            replacing: replacing ? a : nil,
            sealer: try sandbox.keyedInventory().requireSealer(),
            obtainedAt: UnixTime(Date()),
            folder: folder
        )
        return Kept(sandbox: sandbox, stored: [a: first, b: second], a: a, b: b, token: token, file: file)
    }

    /// Rewrites `file`'s JSON after `edit`, as someone with write access to its folder would.
    static func edit(_ file: String, _ edit: (inout [String: Any]) -> Void) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        edit(&object)
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: URL(fileURLWithPath: file))
    }

    /// Expects the store to hold exactly A and B with their own tokens, and the file to be kept.
    static func expectNothingStored(_ kept: Kept, _ result: CLI.Result) async throws {
        #expect(FileManager.default.fileExists(atPath: kept.file), "the file is kept for a person to look at")
        let inventory = try kept.sandbox.keyedInventory()
        var held: [String: String] = [:]
        try inventory.forEachToken(matching: .init()) { held[$0.id] = try inventory.unsealed($0) }
        #expect(held == kept.stored, "the store changed: \(held.keys.sorted())")
        #expect(!result.everything.contains(kept.token))
    }

    /// Every detail of the file is bound to the sealed token: an edit to any of them (to a value
    /// `add` would take, so only the binding can tell) is refused, 65, and nothing is stored.
    @Test(
        arguments: TestBackend.all,
        [
            ("project", false, "p2"), ("replace", true, "B"), ("replace", false, "A"),
            ("business_manager", false, "SINCH_UK"),
            ("label", false, "Mallory"), ("waba", false, "9999"), ("obtained_at", false, "2020-01-01T00:00:00Z"),
            ("fingerprint", false, "0123456789abcdef"), ("id", false, "recovery_0123456789ab"),
            ("format", true, "tokenkeeper-recovery-v1"),
        ]
    )
    func anEditedRecoveryFileIsRefusedAndStoresNothing(
        _ backend: TestBackend,
        edit: (String, Bool, String)
    ) async throws {
        let (field, replacing, value) = edit
        let kept = try await Self.keep(replacing: replacing, backend)
        let replacement = ["A": kept.a, "B": kept.b][value] ?? value
        try Self.edit(kept.file) { $0[field] = replacement }

        let result = try await kept.sandbox.run("add", "--recover", kept.file)

        #expect(result.status == 65, "\(field): \(result.everything)")
        #expect(result.stderr.contains("the file was edited"), "\(result.stderr)")
        try await Self.expectNothingStored(kept, result)
    }

    @Test(arguments: TestBackend.all)
    func aRecoveryFileWithAFieldItsFormatLacksIsRefused(_ backend: TestBackend) async throws {
        let kept = try await Self.keep(replacing: false, backend)
        try Self.edit(kept.file) { $0["expires_at"] = "2999-01-01T00:00:00Z" }

        let result = try await kept.sandbox.run("add", "--recover", kept.file)

        #expect(result.status == 65, "\(result.everything)")
        #expect(result.stderr.contains(#"has fields a recovery file does not have ("expires_at")"#), "\(result.stderr)")
        try await Self.expectNothingStored(kept, result)
    }

    @Test(arguments: TestBackend.all, [false, true])
    func anUneditedRecoveryFileStoresItsToken(_ backend: TestBackend, replacing: Bool) async throws {
        let kept = try await Self.keep(replacing: replacing, backend, new: NewToken(project: "p1", label: "Acme"))

        let result = try await kept.sandbox.run("add", "--recover", kept.file)

        #expect(result.status == 0, "\(result.everything)")
        let id = result.stdout.trimmingCharacters(in: .newlines)
        #expect((id == kept.a) == replacing)
        let inventory = try kept.sandbox.keyedInventory()
        #expect(try inventory.unsealed(inventory.token(id: id)) == kept.token)
        #expect(try inventory.token(id: id).label == "Acme")
        #expect(!FileManager.default.fileExists(atPath: kept.file))
        #expect(!result.everything.contains(kept.token))
    }

    /// A file from before the binding (its token sealed with the id alone) is still stored, its
    /// details held to `add --code-stdin`'s checks, with a note that they were all it had.
    @Test(
        arguments: [
            ("project", "p1", nil), ("business_manager", "EVIL_BM", "unknown business manager EVIL_BM"),
            ("project", "", "--project must not be empty"), ("replace", "B2", "belongs to project p2, not p1"),
        ] as [(String, String, String?)]
    )
    func aRecoveryFileFromBeforeTheBindingIsStoredOnlyWhenAddWouldTakeIt(edit: (String, String, String?)) async throws {
        let (field, value, refusal) = edit
        var kept = try await Self.keep(replacing: false, .sqlite)
        let otherToken = CLISecret.make()
        let other = try await kept.sandbox.add(otherToken, project: "p2")
        kept.stored[other] = otherToken
        let sealer = try kept.sandbox.keyedInventory().requireSealer()
        let id = "recovery_00112233aabb"
        try Self.edit(kept.file) { file in
            file["format"] = "tokenkeeper-recovery-v1"
            file["id"] = id
            file["sealed"] = try? sealer.seal(kept.token, id: id).base64EncodedString()
            file[field] = value == "B2" ? other : value
        }

        let result = try await kept.sandbox.run("add", "--recover", kept.file)

        if let refusal {
            #expect(result.status == 65, "\(result.everything)")
            #expect(result.stderr.contains(refusal), "\(result.stderr)")
            try await Self.expectNothingStored(kept, result)
        } else {
            #expect(result.status == 0, "\(result.everything)")
            #expect(result.stderr.contains("did not bind its details to the token"))
            let record = try kept.sandbox.keyedInventory().token(id: result.stdout.trimmingCharacters(in: .newlines))
            #expect(record.projectID == "p1")
        }
    }
}
