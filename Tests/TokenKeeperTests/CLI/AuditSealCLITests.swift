import Foundation
import Testing
import TokenKeeperTesting

@testable import TokenKeeper

/// The audit seal through the binary (<doc:Operations#The-audit-seal>): a writer without the
/// master key can rewrite the public hash chain so that it links again, but `audit verify` with
/// the key catches it, and the tool's own later writes do not seal over it.
@Suite struct AuditSealCLITests {
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
    private func expectIntactWithoutTheKey(_ sandbox: CLISandbox, count: Int, head: String) async throws {
        let result = try await verify(sandbox, keyed: false)
        let expected = "audit chain intact: \(count) events, head \(head)\nseal not checked (no master key: "
        #expect(result.status == 0 && result.stdout.hasPrefix(expected), "\(result.stdout)\(result.stderr)")
    }

    /// The audit rows as stored, read under the seam.
    private func storedRows(_ sandbox: CLISandbox) async throws -> [AuditRowText] {
        let text = try await sandbox.underTheSeam(
            "SELECT seq, at, COALESCE(token_id, ''), event, actor, detail, prev_hash, hash FROM audit ORDER BY seq"
        )
        return try text.split(separator: "\n").map(AuditRowText.init)
    }

    /// `rows` renumbered from 1 with every `prev_hash` and hash recomputed: a chain that links.
    static func rechained(_ rows: [AuditRowText]) -> [AuditRowText] {
        var previous = AuditLog.genesisHash
        return rows.enumerated().map { index, row in
            var row = row
            row.link(seq: Int64(index + 1), after: previous)
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
            let all =
                ["ALTER TABLE audit DISABLE TRIGGER audit_no_update"] + statements
                + ["ALTER TABLE audit ENABLE TRIGGER audit_no_update"] + (head.map { [headSQL($0)] } ?? [])
            try await sandbox.underTheSeam(all.joined(separator: "; "))
        }
    }

    private func headSQL(_ head: AuditLog.Tail) -> String {
        "UPDATE audit_head SET seq = \(head.seq), hash = '\(head.hash)' WHERE id = 1"
    }

    private func insertSQL(_ rows: [AuditRowText]) -> String {
        "INSERT INTO audit (seq, at, token_id, event, actor, detail, prev_hash, hash) VALUES "
            + rows.map(\.sqlValues).joined(separator: ", ")
    }

    /// The one value `sql` selects under the seam; nil when there is none (or it is NULL).
    private func stored(_ sandbox: CLISandbox, _ sql: String) async throws -> String? {
        let text = try await sandbox.underTheSeam(sql).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    /// The seal as the store holds it: meta `audit_seal` on SQLite, `audit_head.seal` on PostgreSQL.
    private func storedSeal(_ sandbox: CLISandbox) async throws -> String? {
        let sql = "SELECT value FROM meta WHERE key = 'audit_seal'"
        return try await stored(sandbox, sandbox.backend == .postgres ? "SELECT seal FROM audit_head" : sql)
    }

    /// The stored seal, read as one: fails the test when there is none or it does not parse.
    private func parsedSeal(_ sandbox: CLISandbox) async throws -> AuditSeal {
        let text = try #require(try await storedSeal(sandbox), "no seal")
        return try #require(AuditSeal(text), "not a seal: \(text)")
    }

    private func setSeal(_ sandbox: CLISandbox, _ seal: String?) async throws {
        let insert = seal.map { "; INSERT INTO meta (key, value) VALUES ('audit_seal', '\($0)')" } ?? ""
        try await sandbox.underTheSeam(
            sandbox.backend == .postgres
                ? "UPDATE audit_head SET seal = \(AuditRowText.literal(seal))"
                : "DELETE FROM meta WHERE key = 'audit_seal'" + insert
        )
    }

    private func keyCheck(_ sandbox: CLISandbox) async throws -> String? {
        try await stored(sandbox, "SELECT value FROM meta WHERE key = 'key_check'")
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

        let result = try await verify(sandbox, secrets: secrets)

        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "audit chain intact: 5 events, head \(head.hash)\nseal verified with the master key\n")
        // Every write sealed its own head, not only `init` the empty chain's.
        let seal = try await parsedSeal(sandbox)
        #expect(seal.seq == 5 && seal.hash == head.hash)
        #expect(seal.keyID == (try keyring(sandbox).current.id))
        try await expectIntactWithoutTheKey(sandbox, count: 5, head: head.hash)
    }

    // MARK: - Tampering without the key, and a store from before the seal

    enum Forgery: String, CaseIterable, Sendable {
        case deleteTheReveal  // the `revealed` row gone, the later ones renumbered: one row fewer
        case rewriteTheRevealsActor  // the reveal blamed on someone else: as many rows, another head
        case cutTheNewestRows  // the two newest rows gone, the rest as they were
    }

    /// The chain rewritten and every hash after the change recomputed links again: only the seal
    /// tells. The tool's next keyed write does not seal over the forgery either.
    @Test(arguments: TestBackend.all, Forgery.allCases)
    func aForgedChainWithRecomputedHashesFailsItsSeal(_ backend: TestBackend, _ forgery: Forgery) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let (ids, secrets) = try await history(sandbox)
        let sealBefore = try await storedSeal(sandbox)
        var rows = try await storedRows(sandbox)
        try #require(rows.count == 5 && rows[2].event == "revealed")
        switch forgery {
        case .deleteTheReveal: rows.remove(at: 2)
        case .rewriteTheRevealsActor: rows[2].actor = "cli:mallory"
        case .cutTheNewestRows: rows.removeLast(2)
        }
        let forged = Self.rechained(rows)
        let head = try #require(forged.last)
        let statements =
            forgery == .cutTheNewestRows
            ? ["DELETE FROM audit WHERE seq > 3"] : ["DELETE FROM audit", insertSQL(forged)]
        try await tamper(sandbox, statements, head: head.tail)
        if forgery == .cutTheNewestRows {
            // The third token's `added` row went with the cut: even without the key, its token is
            // one the chain does not account for.
            let keyless = try await verify(sandbox, keyed: false)
            let untracked = "audit chain does not account for stored tokens: 3 events link up to head \(head.hash)"
            #expect(keyless.status == 1 && keyless.stdout.hasPrefix(untracked), "\(keyless.stdout)")
            #expect(keyless.stdout.contains(ids[2]))
        } else {
            try await expectIntactWithoutTheKey(sandbox, count: forged.count, head: head.hash)
        }

        let result = try await verify(sandbox, secrets: secrets)

        let reason =
            switch forgery {
            case .deleteTheReveal: "the seal covers seq 5 but the chain ends at seq 4: rows were cut from its end"
            case .cutTheNewestRows: "the seal covers seq 5 but the chain ends at seq 3: rows were cut from its end"
            case .rewriteTheRevealsActor:
                "the row at the sealed seq 5 no longer has the sealed hash: the chain was rewritten"
            }
        #expect(result.status == 1)
        #expect(
            result.stdout
                == "audit chain fails its seal: \(forged.count) events link up to head \(head.hash), but \(reason)\n"
        )
        _ = try await sandbox.add(CLISecret.make())
        #expect(try await storedSeal(sandbox) == sealBefore, "a keyed write sealed the forged chain")
        let after = try await verify(sandbox)
        let failing = "audit chain fails its seal: \(forged.count + 1) events"
        #expect(after.status == 1 && after.stdout.hasPrefix(failing), "\(after.stdout)")
    }

    /// A row with a correct hash appended behind the tool's back (no guard stands in the way of
    /// an insert), and the tool's own next append after it: neither is sealed.
    @Test(arguments: TestBackend.all)
    func aRowAppendedWithoutTheKeyFailsTheSeal(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let (ids, _) = try await history(sandbox)
        let last = try #require(try await storedRows(sandbox).last)
        var row = last
        (row.tokenID, row.event, row.actor, row.detail) = (ids[0], "revealed", "cli:mallory", "{}")
        row.link(seq: 6, after: last.hash)
        try await sandbox.underTheSeam(insertSQL([row]) + (backend == .postgres ? "; " + headSQL(row.tail) : ""))
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
        let added = "rows 6…7 come after the sealed head: they were added without the key"
        #expect(after.status == 1 && after.stdout.contains(added), "\(after.stdout)")
    }

    enum Alteration: String, CaseIterable, Sendable {
        case deleted  // the meta row deleted, the column NULL
        case garbage
        case anotherMAC
        case anEarlierHead  // its MAC kept
        case anotherKeysSeal  // the true head sealed under a key that is not the store's
    }

    /// A deleted or altered seal is reported, and no later keyed write puts a good one back:
    /// only a store from before the seal (its key check in the old form) is sealed where it stands.
    @Test(arguments: TestBackend.all, Alteration.allCases)
    func anAlteredSealFailsVerify(_ backend: TestBackend, _ alteration: Alteration) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        _ = try await history(sandbox)
        let rows = try await storedRows(sandbox)
        var seal = try await parsedSeal(sandbox)
        let forged = "the chain's seal does not verify under key \(seal.keyID): it was forged or altered"
        let stored: String?
        let reason: String
        switch alteration {
        case .deleted:
            (stored, reason) = (
                nil, "the chain's seal is missing: it was deleted, or rows were written without the key"
            )
        case .garbage: (stored, reason) = ("5:\(rows[4].hash)", "the chain's seal is not a seal: it was altered")
        case .anotherMAC:
            seal.mac = String(seal.mac.reversed())
            (stored, reason) = (seal.description, forged)
        case .anEarlierHead:
            (seal.seq, seal.hash) = (4, rows[3].hash)
            (stored, reason) = (seal.description, forged)
        case .anotherKeysSeal:
            seal = TokenSealer(masterKey: .generate()).sealHead(rows[4].tail)
            stored = seal.description
            reason = "the chain is sealed under key \(seal.keyID), which is not in key file \(sandbox.keyFilePath)"
        }
        try await setSeal(sandbox, stored)

        let result = try await verify(sandbox)

        #expect(result.status == 1)
        #expect(
            result.stdout == "audit chain fails its seal: 5 events link up to head \(rows[4].hash), but \(reason)\n"
        )
        _ = try await sandbox.add(CLISecret.make())
        #expect(try await storedSeal(sandbox) == stored, "a keyed write replaced the altered seal")
        #expect(try await verify(sandbox).status == 1)
    }

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
        let seal = try await parsedSeal(sandbox)
        let rows = try await storedRows(sandbox)
        let expected = try #require(rows.last)
        #expect(seal.seq == expected.seq && seal.hash == expected.hash && seal.keyID == entry.id)
        // The upgrade says so in the chain it seals: `audit_sealed`, then the command's own row.
        #expect(
            expected.seq == (first[0] == "add" ? 7 : 6) && rows.filter { $0.event == "audit_sealed" }.map(\.seq) == [6]
        )
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
        #expect(after.stdout.hasSuffix("seal verified with the master key\n"), "\(after.stdout)")
    }

    @Test(arguments: TestBackend.all)
    func aWrongKeyIsAnErrorNotAFailedSeal(_ backend: TestBackend) async throws {
        var sandbox = try await CLISandbox(backend: backend)
        _ = try await history(sandbox)
        let seal = try await storedSeal(sandbox)
        sandbox.cli.environment["TOKENKEEPER_MASTER_KEY"] = Data((0..<32).map { _ in UInt8.random(in: 0...255) })
            .base64EncodedString()

        let result = try await verify(sandbox)

        #expect(result.status == 74 && result.stdout.isEmpty)
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
