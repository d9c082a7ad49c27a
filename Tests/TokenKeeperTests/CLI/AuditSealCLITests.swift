import Foundation
import Testing
@testable import TokenKeeper
import TokenKeeperTesting

/// The audit seal through the binary (<doc:Operations#The-audit-seal>): a writer without the
/// master key can rewrite the public hash chain so that it links again, but `audit verify` with
/// the key catches it, and the tool's own later writes do not seal over it.
@Suite struct AuditSealCLITests {
    /// One audit row as the store holds it.
    struct StoredRow {
        var seq: Int64
        var at: Int64
        var tokenID: String?
        var event: String
        var actor: String
        var detail: String
        var prevHash: String
        var hash: String

        var tail: AuditLog.Tail { AuditLog.Tail(seq: seq, hash: hash) }

        /// The row's values as an SQL tuple.
        var sqlValues: String {
            let texts = [tokenID, event, actor, detail, prevHash, hash].map(AuditSealCLITests.literal)
            return "(\(seq), \(at), " + texts.joined(separator: ", ") + ")"
        }
    }

    /// Five rows: three tokens added, the first revealed (seq 3), the second removed (seq 5).
    /// The secrets, to check that no output shows one.
    private func history(_ sandbox: CLISandbox) async throws -> (ids: [String], secrets: [String]) {
        let secrets = (0..<3).map { _ in CLISecret.make() }
        var ids: [String] = []
        for secret in secrets.prefix(2) { ids.append(try await sandbox.add(secret)) }
        try await sandbox.succeed("get", ids[0])
        ids.append(try await sandbox.add(secrets[2], project: "p2"))
        try await sandbox.succeed("remove", ids[1])
        return (ids, secrets)
    }

    /// `audit verify`, with the sandbox's key or with none at all (no key file, no variable).
    private func verify(_ sandbox: CLISandbox, keyed: Bool = true, secrets: [String] = []) async throws -> CLI.Result {
        var cli = sandbox.cli
        if !keyed {
            cli.environment["TOKENKEEPER_MASTER_KEY"] = nil
            cli.environment["TOKENKEEPER_MASTER_KEY_FILE"] = sandbox.directory.file("no-such.key")
        }
        let result = try await cli.run("audit", "verify")
        for secret in secrets { #expect(!result.everything.contains(secret), "audit verify printed a token") }
        return result
    }

    /// Checks that `verify` without a key finds the chain (of `count` rows, ending at `head`) intact.
    private func expectIntactWithoutTheKey(
        _ sandbox: CLISandbox,
        count: Int,
        head: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let result = try await verify(sandbox, keyed: false)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)", sourceLocation: sourceLocation)
        #expect(
            result.stdout.hasPrefix(
                "audit chain intact: \(count) events, head \(head)\nseal not checked (no master key: "
            ),
            "\(result.stdout)",
            sourceLocation: sourceLocation
        )
    }

    static func literal(_ text: String?) -> String {
        text.map { "'" + $0.replacingOccurrences(of: "'", with: "''") + "'" } ?? "NULL"
    }

    /// The audit rows as stored, read under the seam.
    private func storedRows(_ sandbox: CLISandbox) async throws -> [StoredRow] {
        let text = try await sandbox.underTheSeam(
            "SELECT seq, at, COALESCE(token_id, ''), event, actor, detail, prev_hash, hash FROM audit ORDER BY seq"
        )
        return try text.split(separator: "\n").map { line in
            let fields = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            try #require(fields.count == 8, "an audit row that does not split in 8: \(line)")
            return StoredRow(
                seq: try #require(Int64(fields[0])),
                at: try #require(Int64(fields[1])),
                tokenID: fields[2].isEmpty ? nil : fields[2],
                event: fields[3],
                actor: fields[4],
                detail: fields[5],
                prevHash: fields[6],
                hash: fields[7]
            )
        }
    }

    /// `rows` renumbered from 1 with every `prev_hash` and hash recomputed: a chain that links.
    static func rechained(_ rows: [StoredRow]) -> [StoredRow] {
        var previous = AuditLog.genesisHash
        return rows.enumerated().map { index, row in
            var row = row
            row.seq = Int64(index + 1)
            row.prevHash = previous
            row.hash = AuditLog.hash(
                prevHash: previous,
                seq: row.seq,
                at: UnixTime(seconds: row.at),
                tokenID: row.tokenID,
                event: row.event,
                actor: row.actor,
                detail: row.detail
            )
            previous = row.hash
            return row
        }
    }

    /// Runs `statements` behind the tool's back with the append-only guards off, then puts the
    /// guards back as they were, so what `audit verify` reports is the seal and not the guards.
    /// On PostgreSQL the chain's head row moves to `head` as well, as a careful forger would.
    private func tamper(_ sandbox: CLISandbox, _ statements: [String], head: AuditLog.Tail?) async throws {
        switch sandbox.backend {
        case .sqlite:
            let guards = try await sandbox.sqlite(
                "SELECT sql || ';' FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'"
            )
            try #require(guards.contains("audit_no_update") && guards.contains("audit_no_delete"), "\(guards)")
            let sql = (["DROP TRIGGER audit_no_update", "DROP TRIGGER audit_no_delete"] + statements)
                .joined(separator: "; ")
            try await sandbox.sqlite("BEGIN; \(sql); \(guards) COMMIT;")
        case .postgres:
            var all = ["ALTER TABLE audit DISABLE TRIGGER audit_no_update"] + statements
            all.append("ALTER TABLE audit ENABLE TRIGGER audit_no_update")
            if let head { all.append(headSQL(head)) }
            try await sandbox.underTheSeam(all.joined(separator: "; "))
        }
    }

    private func headSQL(_ head: AuditLog.Tail) -> String {
        "UPDATE audit_head SET seq = \(head.seq), hash = '\(head.hash)' WHERE id = 1"
    }

    private func insertSQL(_ rows: [StoredRow]) -> String {
        "INSERT INTO audit (seq, at, token_id, event, actor, detail, prev_hash, hash) VALUES "
            + rows.map(\.sqlValues).joined(separator: ", ")
    }

    /// The seal as the store holds it: meta `audit_seal` on SQLite, `audit_head.seal` on PostgreSQL.
    private func storedSeal(_ sandbox: CLISandbox) async throws -> String? {
        let text = try await sandbox.underTheSeam(
            sandbox.backend == .postgres
                ? "SELECT seal FROM audit_head WHERE id = 1" : "SELECT value FROM meta WHERE key = 'audit_seal'"
        ).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    private func setSeal(_ sandbox: CLISandbox, _ seal: String?) async throws {
        switch (sandbox.backend, seal) {
        case (.sqlite, nil): try await sandbox.sqlite("DELETE FROM meta WHERE key = 'audit_seal'")
        case (.sqlite, let seal?):
            try await sandbox.sqlite("INSERT OR REPLACE INTO meta (key, value) VALUES ('audit_seal', '\(seal)')")
        case (.postgres, _): try await sandbox.underTheSeam("UPDATE audit_head SET seal = \(Self.literal(seal))")
        }
    }

    private func keyCheck(_ sandbox: CLISandbox) async throws -> String {
        try await sandbox.underTheSeam("SELECT value FROM meta WHERE key = 'key_check'")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The keys of the sandbox's key file.
    private func keyring(_ sandbox: CLISandbox) throws -> Keyring {
        let path = sandbox.keyFilePath
        return try Keyring(fileText: try String(contentsOfFile: path, encoding: .utf8), source: .file(path))
    }

    // MARK: - An untouched store

    @Test(arguments: TestBackend.all)
    func anUntouchedStoreVerifiesItsSealWithTheKey(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let (_, secrets) = try await history(sandbox)
        let head = try #require(try await storedRows(sandbox).last)
        #expect(head.seq == 5)

        let result = try await verify(sandbox, secrets: secrets)

        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "audit chain intact: 5 events, head \(head.hash)\nseal verified with the master key\n")
        // Every write sealed its own head, not only `init` the empty chain's.
        let seal = try #require(AuditSeal(try #require(try await storedSeal(sandbox))))
        #expect(seal.seq == 5 && seal.hash == head.hash)
        #expect(seal.keyID == (try keyring(sandbox).current.id))
        try await expectIntactWithoutTheKey(sandbox, count: 5, head: head.hash)
    }

    // MARK: - Tampering without the key

    enum Forgery: String, CaseIterable, Sendable {
        /// The `revealed` row deleted and the later rows renumbered: one row fewer.
        case deleteTheReveal
        /// The `revealed` row blamed on someone else: as many rows, another head.
        case rewriteTheRevealsActor
    }

    /// The chain rewritten and every hash after the change recomputed links again: only the seal
    /// tells. The tool's next keyed write does not seal over the forgery either.
    @Test(arguments: TestBackend.all, Forgery.allCases)
    func aForgedChainWithRecomputedHashesFailsItsSeal(_ backend: TestBackend, _ forgery: Forgery) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let (_, secrets) = try await history(sandbox)
        let sealBefore = try await storedSeal(sandbox)
        var rows = try await storedRows(sandbox)
        try #require(rows.count == 5 && rows[2].event == "revealed")
        switch forgery {
        case .deleteTheReveal: rows.remove(at: 2)
        case .rewriteTheRevealsActor: rows[2].actor = "cli:mallory"
        }
        let forged = Self.rechained(rows)
        let head = try #require(forged.last)
        try await tamper(sandbox, ["DELETE FROM audit", insertSQL(forged)], head: head.tail)
        try await expectIntactWithoutTheKey(sandbox, count: forged.count, head: head.hash)

        let result = try await verify(sandbox, secrets: secrets)

        let reason =
            switch forgery {
            case .deleteTheReveal: "the seal covers seq 5 but the chain ends at seq 4: rows were cut from its end"
            case .rewriteTheRevealsActor:
                "the row at the sealed seq 5 no longer has the sealed hash: the chain was rewritten"
            }
        #expect(result.status == 1)
        #expect(
            result.stdout == "audit chain fails its seal: \(forged.count) events link up to head \(head.hash), but \(reason)\n"
        )
        _ = try await sandbox.add(CLISecret.make())
        #expect(try await storedSeal(sandbox) == sealBefore, "a keyed write sealed the forged chain")
        let after = try await verify(sandbox)
        #expect(after.status == 1)
        #expect(after.stdout.hasPrefix("audit chain fails its seal: \(forged.count + 1) events"), "\(after.stdout)")
    }

    @Test(arguments: TestBackend.all)
    func cuttingTheNewestRowsFailsTheSeal(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        _ = try await history(sandbox)
        let rows = try await storedRows(sandbox)
        try await tamper(sandbox, ["DELETE FROM audit WHERE seq > 3"], head: rows[2].tail)
        try await expectIntactWithoutTheKey(sandbox, count: 3, head: rows[2].hash)

        let result = try await verify(sandbox)

        #expect(result.status == 1)
        #expect(
            result.stdout
                == "audit chain fails its seal: 3 events link up to head \(rows[2].hash), but the seal covers seq 5 "
                + "but the chain ends at seq 3: rows were cut from its end\n"
        )
    }

    /// A row with a correct hash appended behind the tool's back (no guard stands in the way of
    /// an insert), and the tool's own next append after it: neither is sealed.
    @Test(arguments: TestBackend.all)
    func aRowAppendedWithoutTheKeyFailsTheSeal(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let (ids, _) = try await history(sandbox)
        let last = try #require(try await storedRows(sandbox).last)
        var row = StoredRow(
            seq: 6, at: last.at, tokenID: ids[0], event: "revealed", actor: "cli:mallory", detail: "{}",
            prevHash: last.hash, hash: ""
        )
        row.hash = AuditLog.hash(
            prevHash: row.prevHash, seq: 6, at: UnixTime(seconds: row.at), tokenID: row.tokenID,
            event: row.event, actor: row.actor, detail: row.detail
        )
        var statements = [insertSQL([row])]
        if backend == .postgres { statements.append(headSQL(row.tail)) }
        try await sandbox.underTheSeam(statements.joined(separator: "; "))
        try await expectIntactWithoutTheKey(sandbox, count: 6, head: row.hash)

        let result = try await verify(sandbox)

        #expect(result.status == 1)
        #expect(
            result.stdout
                == "audit chain fails its seal: 6 events link up to head \(row.hash), but rows 6…6 come after the "
                + "sealed head: they were added without the key\n"
        )
        _ = try await sandbox.add(CLISecret.make())
        let after = try await verify(sandbox)
        #expect(after.status == 1)
        #expect(after.stdout.contains("rows 6…7 come after the sealed head: they were added without the key"))
    }

    /// A deleted seal is reported, and no later write puts one back: only a store from before
    /// the seal (its key check in the old form) is sealed where it stands.
    @Test(arguments: TestBackend.all)
    func aDeletedSealIsMissingAndStaysMissing(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        _ = try await history(sandbox)
        let head = try #require(try await storedRows(sandbox).last)
        try await setSeal(sandbox, nil)

        let result = try await verify(sandbox)

        #expect(result.status == 1)
        #expect(
            result.stdout
                == "audit chain fails its seal: 5 events link up to head \(head.hash), but the chain's seal is "
                + "missing: it was deleted, or rows were written without the key\n"
        )
        _ = try await sandbox.add(CLISecret.make())
        #expect(try await storedSeal(sandbox) == nil)
        #expect(try await verify(sandbox).stdout.contains("the chain's seal is missing"))
    }

    enum Alteration: String, CaseIterable, Sendable {
        case garbage
        /// The seal's MAC changed.
        case anotherMAC
        /// The seal moved to an earlier head, its MAC kept.
        case anEarlierHead
        /// A seal another store's key made.
        case anotherStoresSeal
    }

    @Test(arguments: TestBackend.all, Alteration.allCases)
    func anAlteredSealFailsVerify(_ backend: TestBackend, _ alteration: Alteration) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        _ = try await history(sandbox)
        let rows = try await storedRows(sandbox)
        var seal = try #require(AuditSeal(try #require(try await storedSeal(sandbox))))
        let keyID = seal.keyID
        var reason = "the chain's seal does not verify under key \(keyID): it was forged or altered"
        switch alteration {
        case .garbage: reason = "the chain's seal is not a seal: it was altered"
        case .anotherMAC: seal.mac = String(seal.mac.reversed())
        case .anEarlierHead: (seal.seq, seal.hash) = (4, rows[3].hash)
        case .anotherStoresSeal:
            let other = try await CLISandbox()
            _ = try await other.add(CLISecret.make())
            seal = try #require(AuditSeal(try #require(try await storedSeal(other))))
            reason = "the chain is sealed under key \(seal.keyID), which is not in key file \(sandbox.keyFilePath)"
        }
        try #require(seal.keyID == keyID || alteration == .anotherStoresSeal)
        try await setSeal(sandbox, alteration == .garbage ? "5:\(rows[4].hash)" : seal.description)

        let result = try await verify(sandbox)

        #expect(result.status == 1)
        #expect(result.stdout == "audit chain fails its seal: 5 events link up to head \(rows[4].hash), but \(reason)\n")
    }

    // MARK: - A store from before the seal

    /// A store whose key check is in the old form and that has no seal is sealed at its first
    /// keyed open, and its key check moves to the sealed form in the same step.
    @Test(arguments: TestBackend.all, [["audit", "verify"], ["add", "--project", "p1"]])
    func aStoreFromBeforeTheSealIsSealedAtItsFirstKeyedOpen(_ backend: TestBackend, _ first: [String]) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        _ = try await history(sandbox)
        let head = try #require(try await storedRows(sandbox).last)
        let entry = try keyring(sandbox).current
        #expect(try await keyCheck(sandbox) == entry.check)
        try await setSeal(sandbox, nil)
        try await sandbox.underTheSeam("UPDATE meta SET value = '\(entry.legacyCheck)' WHERE key = 'key_check'")
        // Keyless commands read it as it is, and write nothing.
        try await expectIntactWithoutTheKey(sandbox, count: 5, head: head.hash)
        #expect(try await keyCheck(sandbox) == entry.legacyCheck)
        #expect(try await storedSeal(sandbox) == nil)

        let opened = try await sandbox.cli.run(first, stdin: CLISecret.make() + "\n")

        #expect(opened.status == 0, "\(opened.stderr)")
        #expect(try await keyCheck(sandbox) == entry.check)
        let seal = try #require(AuditSeal(try #require(try await storedSeal(sandbox))))
        let expected = try #require(try await storedRows(sandbox).last)
        #expect(seal.seq == expected.seq && seal.hash == expected.hash && seal.keyID == entry.id)
        #expect(expected.seq == (first[0] == "add" ? 6 : 5))
        let result = try await verify(sandbox)
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout.hasSuffix("seal verified with the master key\n"), "\(result.stdout)")
    }

    // MARK: - Copies, keys

    @Test(arguments: TestBackend.all)
    func aCopyToANewSQLiteFileKeepsTheSeal(_ backend: TestBackend) async throws {
        let source = try await CLISandbox(backend: backend)
        let (_, secrets) = try await history(source)
        let target = CLISandbox(uninitializedWith: ["TOKENKEEPER_MASTER_KEY_FILE": source.keyFilePath])

        let copied = try await source.run("copy", "--to", target.databasePath)

        #expect(copied.status == 0, "\(copied.stderr)")
        #expect(try await storedSeal(target) == storedSeal(source))
        let result = try await verify(target, secrets: secrets)
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout == (try await verify(source).stdout))
        #expect(result.stdout.hasSuffix("seal verified with the master key\n"))
        // The copy's seal covers its tail exactly: its own writes go on sealing.
        _ = try await target.add(CLISecret.make())
        let after = try await verify(target)
        #expect(after.status == 0 && after.stdout.contains("intact: 6 events"), "\(after.stdout)")
        #expect(after.stdout.hasSuffix("seal verified with the master key\n"))
    }

    @Test(arguments: TestBackend.all)
    func aWrongKeyIsAnErrorNotAFailedSeal(_ backend: TestBackend) async throws {
        var sandbox = try await CLISandbox(backend: backend)
        _ = try await history(sandbox)
        let seal = try await storedSeal(sandbox)
        sandbox.cli.environment["TOKENKEEPER_MASTER_KEY"] = Data((0..<32).map { _ in UInt8.random(in: 0...255) })
            .base64EncodedString()

        let result = try await verify(sandbox)

        #expect(result.status == 74)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("does not match this database"), "\(result.stderr)")
        #expect(try await storedSeal(sandbox) == seal)
    }

    /// `remove` appends to the chain, so it needs the key to seal the new head.
    @Test(arguments: TestBackend.all)
    func removeNeedsTheKey(_ backend: TestBackend) async throws {
        var sandbox = try await CLISandbox(backend: backend)
        let id = try await sandbox.add(CLISecret.make())
        let keyed = sandbox.cli
        sandbox.cli.environment["TOKENKEEPER_MASTER_KEY_FILE"] = sandbox.directory.file("no-such.key")

        let result = try await sandbox.run("remove", id)

        #expect(result.status == 64)
        #expect(result.stderr.contains("no master key"), "\(result.stderr)")
        sandbox.cli = keyed
        #expect(try await sandbox.listedIDs() == [id])
        #expect(try await sandbox.auditJSON().count == 1)
        #expect(try await verify(sandbox).stdout.hasSuffix("seal verified with the master key\n"))
    }
}
