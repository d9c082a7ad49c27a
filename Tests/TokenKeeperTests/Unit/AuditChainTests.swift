import GRDB
import Testing
import TokenKeeper
import TokenKeeperSQLite
import TokenKeeperTesting

@Suite struct AuditChainTests {
    /// A store with `count` audited changes.
    func fixture(events count: Int, _ backend: TestBackend = .sqlite) throws -> StoreFixture {
        let fixture = try StoreFixture(backend)
        for index in 0..<count {
            _ = try fixture.inventory.add(token: "EAAchain\(index)", NewToken(project: "p1"))
        }
        return fixture
    }

    /// Runs SQL with the append-only triggers dropped, as someone editing the file would.
    func tamper(_ fixture: StoreFixture, _ sql: String) throws {
        switch fixture.backend {
        case .sqlite:
            let queue = try DatabaseQueue(path: fixture.databasePath)
            try queue.write { db in
                try db.execute(sql: "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;")
                try db.execute(sql: sql)
            }
        case .postgres:
            try fixture.underTheSeam("DROP TRIGGER audit_no_update ON audit; \(sql)")
        }
    }

    @Test(arguments: TestBackend.all)
    func anUntouchedChainVerifiesAndNamesItsHead(_ backend: TestBackend) throws {
        let fixture = try fixture(events: 5, backend)
        let events = try fixture.auditEvents()
        #expect(events.map(\.seq) == [1, 2, 3, 4, 5])
        #expect(events.first?.prevHash == AuditLog.genesisHash)
        for (previous, next) in zip(events, events.dropFirst()) { #expect(next.prevHash == previous.hash) }
        #expect(try fixture.inventory.verifyAudit() == .intact(count: 5, head: events.last!.hash))
    }

    @Test(arguments: TestBackend.all)
    func anEmptyChainIsIntact(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        #expect(try fixture.inventory.verifyAudit() == .intact(count: 0, head: AuditLog.genesisHash))
    }

    /// A chain that still links is not enough once the guards are gone: whoever dropped them
    /// could have rewritten rows and recomputed every hash. Dropped, disabled or hollowed out.
    @Test(arguments: [
        (TestBackend.sqlite, "DROP TRIGGER audit_no_delete", ["audit_no_delete"]),
        (
            TestBackend.sqlite,
            "DROP TRIGGER audit_no_update; CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT 1; END",
            ["audit_no_update"]
        ),
        // Recreated under its name, raising still, but never firing.
        (
            TestBackend.sqlite,
            "DROP TRIGGER audit_no_update; CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit WHEN 0 "
                + "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
            ["audit_no_update"]
        ),
        (
            TestBackend.sqlite,
            "DROP TRIGGER audit_no_delete; CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
                + "WHEN old.seq < 0 BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
            ["audit_no_delete"]
        ),
        (TestBackend.postgres, "DROP TRIGGER audit_no_update ON audit", ["audit_no_update"]),
        (TestBackend.postgres, "ALTER TABLE audit DISABLE TRIGGER audit_no_truncate", ["audit_no_truncate"]),
        (TestBackend.postgres, "ALTER TABLE audit DISABLE TRIGGER audit_no_update", ["audit_no_update"]),
        // Fires only under session_replication_role = replica: an ordinary session edits freely.
        (TestBackend.postgres, "ALTER TABLE audit ENABLE REPLICA TRIGGER audit_no_update", ["audit_no_update"]),
        (
            TestBackend.postgres,
            "DROP TRIGGER audit_no_update ON audit; CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit "
                + "FOR EACH ROW WHEN (false) EXECUTE FUNCTION tokenkeeper_audit_append_only()",
            ["audit_no_update"]
        ),
        (
            TestBackend.postgres,
            "CREATE OR REPLACE FUNCTION tokenkeeper_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                + "BEGIN IF false THEN RAISE EXCEPTION 'the audit log is append-only'; END IF; RETURN OLD; END $$",
            ["audit_no_update", "audit_no_truncate"]
        ),
        (
            TestBackend.postgres,
            "CREATE OR REPLACE FUNCTION tokenkeeper_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$",
            ["audit_no_update", "audit_no_truncate"]
        ),
    ])
    func missingGuardsFailAChainThatStillLinks(_ backend: TestBackend, sql: String, missing: [String]) throws {
        guard TestBackend.all.contains(backend) else { return }
        let fixture = try fixture(events: 3, backend)
        let head = try #require(fixture.auditEvents().last?.hash)
        try fixture.underTheSeam(sql)
        let verification = try fixture.inventory.verifyAudit()
        #expect(verification == .unguarded(count: 3, head: head, missing: missing))
        #expect(
            verification.description.contains("append-only triggers \(missing.joined(separator: ", ")) are missing")
        )

        // restore-triggers puts them back, audited, and the table refuses edits again.
        #expect(try fixture.inventory.restoreAuditGuards() == missing)
        let restored = try #require(fixture.auditEvents().last)
        #expect(restored.event == AuditEvent.triggersRestored.rawValue)
        #expect(try fixture.inventory.verifyAudit() == .intact(count: 4, head: restored.hash))
        #expect(throws: (any Error).self) { try fixture.underTheSeam("UPDATE audit SET event = 'x' WHERE seq = 1") }
        #expect(throws: (any Error).self) { try fixture.underTheSeam("DELETE FROM audit WHERE seq = 1") }
        #expect(try fixture.inventory.restoreAuditGuards() == [])
        #expect(try fixture.auditEvents().count == 4)
    }

    @Test(arguments: TestBackend.all)
    func theStoreRefusesToEditOrDeleteAuditRows(_ backend: TestBackend) throws {
        let fixture = try fixture(events: 2, backend)
        #expect(throws: (any Error).self) { try fixture.underTheSeam("UPDATE audit SET actor = 'x' WHERE seq = 1") }
        #expect(throws: (any Error).self) { try fixture.underTheSeam("DELETE FROM audit WHERE seq = 1") }
        if backend == .postgres {
            #expect(throws: (any Error).self) { try fixture.underTheSeam("TRUNCATE audit") }
        }
        #expect(try fixture.auditEvents().count == 2)
    }

    static let edits: [(String, Int64)] = [
        ("UPDATE audit SET detail = '{}' WHERE seq = 3", 3),
        ("UPDATE audit SET event = 'removed' WHERE seq = 2", 2),
        ("UPDATE audit SET at = at + 1 WHERE seq = 4", 4),
        ("DELETE FROM audit WHERE seq = 2", 3),
        ("UPDATE audit SET token_id = NULL WHERE seq = 1", 1),
    ]

    @Test(arguments: TestBackend.all, edits)
    func anEditBehindTheToolsBackNamesTheFirstBadSeq(
        _ backend: TestBackend,
        edit: (sql: String, firstBad: Int64)
    ) throws {
        let (sql, firstBad) = edit
        let fixture = try fixture(events: 5, backend)
        try tamper(fixture, sql)
        guard case .broken(let seq, _) = try fixture.inventory.verifyAudit() else {
            Issue.record("the chain still verifies after: \(sql)")
            return
        }
        #expect(seq == firstBad)
    }

    @Test func rehashingAnEditedRowStillBreaksAtTheNextRow() throws {
        let fixture = try fixture(events: 4)
        let row = try #require(try fixture.auditEvents().first { $0.seq == 2 })
        let forged = AuditLog.hash(
            prevHash: row.prevHash,
            seq: row.seq,
            at: row.at,
            tokenID: row.tokenID,
            event: "removed",
            actor: row.actor,
            detail: row.detail
        )
        try tamper(fixture, "UPDATE audit SET event = 'removed', hash = '\(forged)' WHERE seq = 2")
        #expect(
            try fixture.inventory.verifyAudit()
                == .broken(seq: 3, reason: "prev_hash does not match the hash of the row before")
        )
    }

    @Test func hashSeparatesFieldsUnambiguously() {
        let at = UnixTime(seconds: 1)
        let one = AuditLog.hash(prevHash: "0", seq: 1, at: at, tokenID: "ab", event: "c", actor: "x", detail: "{}")
        let two = AuditLog.hash(prevHash: "0", seq: 1, at: at, tokenID: "a", event: "bc", actor: "x", detail: "{}")
        #expect(one != two)
        #expect(one.count == 64)
    }

    @Test(arguments: TestBackend.all)
    func theMostRecentEventsComeBackInSeqOrderWithALimit(_ backend: TestBackend) throws {
        let fixture = try fixture(events: 6, backend)
        var seqs: [Int64] = []
        try fixture.inventory.forEachAuditEvent(matching: .init(limit: 3)) { seqs.append($0.seq) }
        #expect(seqs == [4, 5, 6])
    }

    /// A seal left behind the head (here put back to an older one, as a host writing without
    /// the key leaves it) fails verify until `audit reseal`, which seals the head as it is and
    /// says what the old seal covered.
    @Test(arguments: TestBackend.all)
    func aSealLeftBehindFailsVerifyUntilResealed(_ backend: TestBackend) throws {
        let fixture = try fixture(events: 2, backend)
        let older = try #require(try fixture.store.read { try $0.auditSeal() })
        _ = try fixture.inventory.add(token: "EAAchainlater", NewToken(project: "p1"))
        try fixture.store.write { try $0.setAuditSeal(older) }
        guard case .unsealed(let count, _, let reason) = try fixture.inventory.verifyAudit() else {
            Issue.record("a seal behind the head verified")
            return
        }
        #expect(count == 3)
        #expect(reason.contains("rows 3…3 come after the sealed head"), "\(reason)")

        let head = try fixture.inventory.resealAudit()
        let last = try #require(fixture.auditEvents().last)
        #expect(last.event == AuditEvent.auditResealed.rawValue)
        #expect(last.detail.contains("previous seal: seq 2 under key"), "\(last.detail)")
        #expect(head == AuditLog.Tail(seq: 4, hash: last.hash))
        #expect(try fixture.inventory.verifyAudit() == .intact(count: 4, head: last.hash))
    }

    @Test(arguments: TestBackend.all)
    func aBrokenChainIsNotResealed(_ backend: TestBackend) throws {
        let fixture = try fixture(events: 3, backend)
        let seal = try fixture.store.read { try $0.auditSeal() }
        try tamper(fixture, "UPDATE audit SET actor = 'someone else' WHERE seq = 2")
        #expect(throws: TokenKeeperError.self) { try fixture.inventory.resealAudit() }
        #expect(try fixture.store.read { try $0.auditSeal() } == seal)
        #expect(try fixture.auditEvents().count == 3)
    }
}
