import Foundation
import Testing
import TokenKeeperTesting

@testable import TokenKeeper

/// A writer without the master key removes the key check and the seal, so that the tool takes
/// its store for a new one and seals a forged chain (<doc:Operations#The-audit-seal>). Only a
/// store without a token row and an audit row is new, counted from the rows themselves.
@Suite struct KeyCheckRemovalCLITests {
    /// Three tokens added and each revealed: six rows.
    private func history(_ sandbox: CLISandbox) async throws -> (ids: [String], secrets: [String]) {
        let secrets = (0..<3).map { _ in CLISecret.make() }
        var ids: [String] = []
        for secret in secrets {
            let id = try await sandbox.add(secret)
            try await sandbox.succeed("get", id)
            ids.append(id)
        }
        return (ids, secrets)
    }

    /// Runs `statements` under the seam with the audit table's guards off, then puts them back.
    private func tamper(_ sandbox: CLISandbox, _ statements: [String]) async throws {
        switch sandbox.backend {
        case .sqlite:
            let guards = try await sandbox.sqlite(
                "SELECT sql || ';' FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'"
            )
            let sql = (["DROP TRIGGER audit_no_update", "DROP TRIGGER audit_no_delete"] + statements)
                .joined(separator: "; ")
            try await sandbox.sqlite("BEGIN; \(sql); \(guards) COMMIT;")
        case .postgres:
            let all =
                ["ALTER TABLE audit DISABLE TRIGGER audit_no_update"] + statements
                + ["ALTER TABLE audit ENABLE TRIGGER audit_no_update"]
            try await sandbox.underTheSeam(all.joined(separator: "; "))
        }
    }

    /// The key check and the seal deleted, as a forger without the key would.
    private func keylessStatements(_ backend: TestBackend) -> [String] {
        ["DELETE FROM meta WHERE key IN ('key_check', 'audit_seal')"]
            + (backend == .postgres ? ["UPDATE audit_head SET seal = NULL"] : ["DELETE FROM token_counts"])
    }

    private func storedRows(_ sandbox: CLISandbox) async throws -> [AuditRowText] {
        let text = try await sandbox.underTheSeam(
            "SELECT seq, at, COALESCE(token_id, ''), event, actor, detail, prev_hash, hash FROM audit ORDER BY seq"
        )
        return try text.split(separator: "\n").map(AuditRowText.init)
    }

    private func keyCheck(_ sandbox: CLISandbox) async throws -> String {
        try await sandbox.underTheSeam("SELECT value FROM meta WHERE key = 'key_check'")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The reveals cut from the chain, every hash recomputed, and the key check and seal deleted:
    /// every keyed command refuses the store (74) and writes nothing, `audit verify` with the key
    /// says why, and `status` counts the rows, not the emptied cache.
    @Test(arguments: TestBackend.all)
    func aStoreWithHistoryButNoKeyCheckIsRefusedNotSealed(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let (ids, secrets) = try await history(sandbox)
        let rows = try await storedRows(sandbox)
        try #require(rows.count == 6 && rows.filter { $0.event == "revealed" }.count == 3)
        let forged = AuditSealCLITests.rechained(rows.filter { $0.event != "revealed" })
        let insert =
            "INSERT INTO audit (seq, at, token_id, event, actor, detail, prev_hash, hash) VALUES "
            + forged.map(\.sqlValues).joined(separator: ", ")
        let head = try #require(forged.last)
        let moveHead = "UPDATE audit_head SET seq = \(head.seq), hash = '\(head.hash)' WHERE id = 1"
        try await tamper(
            sandbox,
            keylessStatements(backend) + ["DELETE FROM audit", insert] + (backend == .postgres ? [moveHead] : [])
        )

        for command in [["get", ids[0]], ["run-once"], ["audit", "verify"]] {
            let result = try await sandbox.cli.run(command)
            #expect(result.status == 74, "\(command): \(result.status) \(result.stdout)\(result.stderr)")
            #expect(result.stderr.contains("has tokens or audit history but no key check"), "\(result.stderr)")
            #expect(!result.stdout.contains("seal verified"), "\(command) vouched for the forged chain")
            for secret in secrets { #expect(!result.everything.contains(secret), "\(command) printed a token") }
        }
        #expect(try await keyCheck(sandbox).isEmpty, "a refused command bound its key")
        #expect(try await storedRows(sandbox).count == forged.count, "a refused command appended")

        let status = try await sandbox.run("status", "--json")
        #expect(status.status == 0, "\(status.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        let tokens = try #require(json["tokens"] as? [String: Int])
        #expect(tokens["stored"] == 3, "\(status.stdout)")
        if backend == .sqlite {
            // The emptied cache is named, never taken for the truth.
            #expect(tokens["total"] == 0)
            #expect((json["warning"] as? String)?.contains("holds 3 tokens but its counts say 0") == true)
        }
    }

    /// The tokens moved out, the chain and the key check deleted, a keyed command run on what is
    /// now an empty store (it is bound and sealed as new), the tokens moved back: `audit verify`
    /// names the tokens no audit row accounts for.
    @Test(arguments: TestBackend.all)
    func tokensMovedBackIntoAResealedStoreFailVerify(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let (ids, _) = try await history(sandbox)
        let genesis = "UPDATE audit_head SET seq = 0, hash = '\(AuditLog.genesisHash)' WHERE id = 1"
        try await tamper(
            sandbox,
            keylessStatements(backend)
                + ["CREATE TABLE moved AS SELECT * FROM tokens", "DELETE FROM tokens", "DELETE FROM audit"]
                + (backend == .postgres ? [genesis] : [])
        )
        try await sandbox.succeed("audit", "verify")
        #expect(try await keyCheck(sandbox).isEmpty == false, "the empty store was not bound")
        // PostgreSQL computes some columns itself: copy the others.
        let columns =
            backend == .sqlite
            ? "*"
            : try await sandbox.underTheSeam(
                "SELECT string_agg(column_name, ', ') FROM information_schema.columns WHERE table_name = 'tokens' "
                    + "AND is_generated = 'NEVER' AND is_identity = 'NO'"
            ).trimmingCharacters(in: .whitespacesAndNewlines)
        let list = backend == .sqlite ? "" : "(\(columns))"
        try await sandbox.underTheSeam("INSERT INTO tokens \(list) SELECT \(columns) FROM moved; DROP TABLE moved")

        let result = try await sandbox.run("audit", "verify")

        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasPrefix("audit chain does not account for stored tokens"), "\(result.stdout)")
        for id in ids { #expect(result.stdout.contains(id)) }
        #expect(!result.stdout.contains("seal verified"))
    }
}
