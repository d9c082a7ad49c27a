import Foundation
import GRDB
import Testing
import TokenKeeper
import TokenKeeperSQLite
import TokenKeeperTesting

@Suite struct StoreTests {
    func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as? Int) ?? -1
    }

    @Test func databaseFilesAndParentFolderArePrivate() throws {
        let fixture = try StoreFixture()
        _ = try fixture.inventory.add(token: "EAAprivate", NewToken(project: "p1"))
        let path = fixture.databasePath
        #expect(try mode(path) == 0o600)
        #expect(try mode(path + "-wal") == 0o600)
        #expect(try mode(path + "-shm") == 0o600)
        #expect(try mode(fixture.directory.file("state")) == 0o700)
    }

    @Test func walModeAndNormalSynchronousAreOn() throws {
        let fixture = try StoreFixture()
        let (journal, synchronous) = try fixture.sqlite.database { db in
            (
                try String.fetchOne(db, sql: "PRAGMA journal_mode"),
                try Int.fetchOne(db, sql: "PRAGMA synchronous")
            )
        }
        #expect(journal == "wal")
        #expect(synchronous == 1)  // NORMAL
    }

    @Test func theIndexesOfTheDesignExist() throws {
        let fixture = try StoreFixture()
        let names = try fixture.sqlite.database { db in
            try String.fetchAll(
                db,
                sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'"
            )
        }
        #expect(Set(names).isSuperset(of: ["tokens_refresh_at", "tokens_expires_at", "tokens_attention"]))
    }

    @Test func openingAMissingDatabaseSaysToRunInit() {
        let directory = TemporaryDirectory()
        #expect {
            try SQLiteStore.open(at: directory.file("nope.sqlite"))
        } throws: { error in
            let error = error as? TokenKeeperError
            return error?.code == .databaseMissing && error?.code.exitCode == 74
                && error!.message.contains("tokenkeeper init")
        }
    }

    @Test func aCorruptFileIsADatabaseError() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("garbage.sqlite")
        try Data(repeating: 0x5a, count: 8_192).write(to: URL(fileURLWithPath: path))
        #expect {
            try SQLiteStore.open(at: path)
        } throws: { error in
            (error as? TokenKeeperError)?.code.exitCode == 74
        }
    }

    @Test(arguments: TestBackend.all)
    func wrongKeyIsRefusedBeforeAnythingIsWritten(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        _ = try fixture.inventory.add(token: "EAAfirst", NewToken(project: "p1"))
        let before = backend == .sqlite ? try Data(contentsOf: URL(fileURLWithPath: fixture.databasePath)) : nil
        let events = try fixture.auditEvents()
        let other = MasterKey.generate()
        #expect {
            try fixture.store.bind(to: TokenSealer(masterKey: other))
        } throws: { error in
            let error = error as? TokenKeeperError
            return error?.code == .wrongKey && error!.message.contains("does not match")
        }
        #expect(try fixture.allTokens().count == 1)
        #expect(try fixture.auditEvents() == events)
        if let before { #expect(try Data(contentsOf: URL(fileURLWithPath: fixture.databasePath)) == before) }
    }

    @Test func aWriteBlockedPastTheBusyTimeoutIsALockedError() throws {
        let fixture = try StoreFixture()
        let store = try SQLiteStore.open(at: fixture.databasePath, busyTimeout: .milliseconds(100))
        // Another connection holds the write lock.
        var configuration = Configuration()
        configuration.allowsUnsafeTransactions = true
        let blocker = try DatabaseQueue(path: fixture.databasePath, configuration: configuration)
        try blocker.inDatabase { db in try db.execute(sql: "BEGIN IMMEDIATE") }
        defer { try? blocker.inDatabase { db in try db.execute(sql: "ROLLBACK") } }
        let inventory = Inventory(
            store: store,
            policy: RenewalPolicy(),
            actor: "test:2",
            sealer: TokenSealer(masterKey: fixture.key)
        )
        #expect {
            try inventory.remove(id: "tk_000000000000")
        } throws: { error in
            let error = error as? TokenKeeperError
            return error?.code == .databaseLocked && error?.code.exitCode == 74
        }
    }

    @Test(arguments: TestBackend.all)
    func addStoresSealedTokenWithScheduleAndAuditRow(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend, policy: RenewalPolicy(jitter: .fraction(0)))
        let now = fixture.clock.now
        let record = try fixture.inventory.add(
            token: "EAAadded",
            NewToken(project: "p1", label: "Acme", waba: "1000", businessManager: "SINCH_UK")
        )
        #expect(record.id.hasPrefix("tk_") && record.id.count == 15)
        #expect(record.issuedAt == now)
        #expect(record.expiresAt == now + .seconds(60 * 86_400))
        #expect(record.refreshAt == now + .seconds(40 * 86_400))
        #expect(record.state == .active)
        #expect(record.projectID == "p1" && record.label == "Acme" && record.wabaID == "1000")
        #expect(record.businessManager == "SINCH_UK")
        #expect(record.fingerprint == TokenSealer(masterKey: fixture.key).fingerprint("EAAadded"))
        #expect(try fixture.inventory.reveal(id: record.id) == "EAAadded")
        let events = try fixture.auditEvents().map(\.event)
        #expect(events == ["added", "revealed"])
    }

    @Test(arguments: TestBackend.all)
    func replaceSwapsTheTokenAndClearsTheFailureState(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let record = try fixture.inventory.add(token: "EAAold01", NewToken(project: "p1", label: "Acme"))
        try fixture.underTheSeam("UPDATE tokens SET state = 'needs_reauth', failures = 3 WHERE id = '\(record.id)'")
        fixture.clock.advance(by: .seconds(3_600))
        let replaced = try fixture.inventory.replace(id: record.id, token: "EAAnew01", NewToken(project: ""))
        #expect(replaced.state == .active)
        #expect(replaced.failures == 0)
        #expect(replaced.label == "Acme")
        #expect(replaced.fingerprint != record.fingerprint)
        #expect(replaced.version == record.version + 1)
        #expect(try fixture.inventory.reveal(id: record.id) == "EAAnew01")
        let replacedEvent = try #require(try fixture.auditEvents().first { $0.event == "replaced" })
        #expect(
            replacedEvent.detail.contains(record.fingerprint) && replacedEvent.detail.contains(replaced.fingerprint)
        )
    }

    @Test(arguments: TestBackend.all)
    func updatingATokenThatIsGoneIsAnErrorAndWritesNothing(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        var record = try fixture.inventory.add(token: "EAAgone1", NewToken(project: "p1"))
        try fixture.inventory.remove(id: record.id)
        record.label = "changed"
        #expect {
            try fixture.store.write { try $0.updateToken(record) }
        } throws: { error in
            (error as? TokenKeeperError)?.code == .notFound
        }
        #expect(try fixture.allTokens().isEmpty)
    }

    @Test(arguments: TestBackend.all)
    func removeDeletesTheTokenButKeepsItsHistory(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let record = try fixture.inventory.add(token: "EAAgone1", NewToken(project: "p1"))
        try fixture.inventory.remove(id: record.id)
        #expect(try fixture.allTokens().isEmpty)
        #expect(try fixture.auditEvents().map(\.event) == ["added", "removed"])
        #expect(throws: TokenKeeperError.self) { try fixture.inventory.remove(id: record.id) }
    }

    @Test(arguments: ["", "EAA with space", "EAA\ttab", String(repeating: "A", count: 5_000)])
    func malformedTokenValuesAreRefused(token: String) throws {
        let fixture = try StoreFixture()
        #expect {
            try fixture.inventory.add(token: token, NewToken(project: "p1"))
        } throws: { error in
            (error as? TokenKeeperError)?.code == .invalidInput
        }
        #expect(try fixture.allTokens().isEmpty)
    }

    @Test(arguments: TestBackend.all)
    func listIsSortedByExpiryAndFilters(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let now = fixture.clock.now
        for (days, project) in [(30, "p1"), (5, "p2"), (50, "p1"), (2, "p1")] {
            _ = try fixture.inventory.add(
                token: "EAA-token-\(days)",
                NewToken(project: project, expiresAt: now + .seconds(Int64(days) * 86_400))
            )
        }
        var expiries: [UnixTime] = []
        try fixture.inventory.forEachToken(matching: .init()) { expiries.append($0.expiresAt) }
        #expect(expiries == expiries.sorted() && expiries.count == 4)
        var soon: [String] = []
        try fixture.inventory.forEachToken(matching: .init(expiringWithin: .seconds(7 * 86_400))) {
            soon.append($0.projectID)
        }
        #expect(soon == ["p1", "p2"])
        var limited = 0
        try fixture.inventory.forEachToken(matching: .init(project: "p1", limit: 2)) { _ in limited += 1 }
        #expect(limited == 2)
    }

    /// Strings COPY's text format must escape, and the empty string.
    private static let awkward = ["tab\there", "line\nbreak", "back\\slash \\N", "cr\rlf", "ünïcødé ✓", "", "\\x00"]

    /// Token row number `index` of a varied batch: every column set or left empty by turns.
    static func record(_ index: Int, at now: UnixTime) -> TokenRecord {
        let failing = index % 11 == 0
        let leased = index % 13 == 0
        let error = LastError(errorClass: "server", code: "x\ty", status: 503, message: "line\none", at: now)
        let sealed = Data((0..<190).map { (offset: Int) -> UInt8 in UInt8((offset * 7 + index) % 256) })
        return TokenRecord(
            id: String(format: "tk_%012x", index),
            projectID: "p\(index % 3)",
            label: index % 5 == 0 ? nil : awkward[index % awkward.count],
            wabaID: index % 2 == 0 ? "\(1_000 + index)" : nil,
            businessManager: index % 7 == 0 ? awkward[(index + 1) % awkward.count] : nil,
            sealedToken: sealed,
            fingerprint: String(format: "%016x", index),
            issuedAt: now,
            expiresAt: now + .seconds(Int64(index) * 60),
            refreshAt: now + .seconds(Int64(index) * 30),
            state: failing ? .retrying : .active,
            failures: failing ? 2 : 0,
            lastError: failing ? error : nil,
            lastRefreshedAt: index % 4 == 0 ? now : nil,
            leaseOwner: leased ? "host:1:ab" : nil,
            leaseUntil: leased ? now + .seconds(60) : nil,
            version: 1 + index % 3
        )
    }

    /// `insertTokens` and a run of audit rows in one transaction, as `import` and `copy` write
    /// them (on PostgreSQL through COPY, whose text format escapes tabs, newlines and
    /// backslashes): every value comes back as it went in, a taken id is returned and not
    /// written, and the chain verifies.
    @Test(arguments: TestBackend.all)
    func manyRowsAtOnceKeepEveryValue(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let now = fixture.clock.now
        let records = (0..<150).map { Self.record($0, at: now) }
        let audit = AuditLog(actor: "test:\tactor")
        let taken = try fixture.store.write { store in
            _ = try store.insertToken(records[0])
            let taken = try store.insertTokens(Array(records))
            var tail = try store.auditTail()
            // Every stored token has its row: a token no row names fails verify.
            for record in records {
                try audit.append(
                    store,
                    after: &tail,
                    event: .added,
                    tokenID: record.id,
                    detailJSON: #"{"label":"\#(record.label ?? "")"}"#,
                    at: now
                )
            }
            return taken
        }
        #expect(taken == [records[0].id])
        let stored = try fixture.store.read { store in try records.map { try store.token(id: $0.id) } }
        #expect(stored == records.map { Optional($0) })
        #expect(try fixture.auditEvents().count == records.count)
        #expect(
            try fixture.inventory.verifyAudit().description.hasPrefix("audit chain intact: \(records.count) events")
        )
    }

    /// An id twice in one `insertTokens` call, in a few rows (one multi-row INSERT on
    /// PostgreSQL) or many (COPY): the first row is stored, the second returned as taken.
    @Test(arguments: TestBackend.all, [5, 100])
    func anIdTwiceInOneInsertIsReturnedTakenOnce(_ backend: TestBackend, count: Int) throws {
        let fixture = try StoreFixture(backend)
        let now = fixture.clock.now
        var records = (0..<count).map { Self.record($0, at: now) }
        var again = Self.record(count, at: now)
        again.id = records[1].id
        records.insert(again, at: 3)
        let taken = try fixture.store.write { try $0.insertTokens(records) }
        #expect(taken == [again.id])
        #expect(try fixture.store.read { try $0.token(id: again.id) } == records[1])
        #expect(try fixture.store.read { try $0.countTokens(.all) } == count)
    }

    /// A commit group's rows in one call (`applyOutcomes`; one statement on PostgreSQL): each row
    /// is still checked against its claim, so a row whose version moved is left as it is.
    @Test(arguments: TestBackend.all)
    func outcomesAppliedTogetherKeepEachRowsClaimCheck(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let now = fixture.clock.now
        let ids = try (0..<3).map { try fixture.inventory.add(token: "EAAgroup\($0)", NewToken(project: "p1")).id }
        let claimed = try fixture.store.write { store in
            try store.claimLeases(ids: ids, owner: "me", until: now + .seconds(300), now: now, onlyIfDue: false)
        }
        try #require(claimed.count == 3)
        func write(_ record: TokenRecord, version: Int, sealed: Data?) -> TokenOutcomeWrite {
            TokenOutcomeWrite(
                id: record.id,
                owner: "me",
                version: version,
                sealedToken: sealed,
                fingerprint: sealed == nil ? nil : "feedfacefeedface",
                issuedAt: now,
                expiresAt: now + .seconds(86_400),
                lastRefreshedAt: sealed == nil ? nil : now,
                state: sealed == nil ? .retrying : .active,
                failures: sealed == nil ? 1 : 0,
                refreshAt: now + .seconds(600),
                lastError: sealed == nil
                    ? LastError(errorClass: "server", code: "e", status: 500, message: "m", at: now) : nil
            )
        }
        let written = try fixture.store.write { store in
            try store.applyOutcomes([
                write(claimed[0], version: claimed[0].version, sealed: Data([1, 2, 3])),
                write(claimed[1], version: claimed[1].version + 1, sealed: Data([4])),
                write(claimed[2], version: claimed[2].version, sealed: nil),
            ])
        }
        #expect(written == [true, false, true])
        let after = try fixture.store.read { store in try claimed.map { try #require(try store.token(id: $0.id)) } }
        #expect(after[0].sealedToken == Data([1, 2, 3]) && after[0].fingerprint == "feedfacefeedface")
        #expect(after[0].version == claimed[0].version + 1 && after[0].leaseOwner == nil && after[0].state == .active)
        #expect(after[1] == claimed[1], "a row whose version moved is left as it is")
        #expect(after[2].sealedToken == claimed[2].sealedToken && after[2].fingerprint == claimed[2].fingerprint)
        #expect(after[2].state == .retrying && after[2].failures == 1 && after[2].lastError?.code == "e")
        #expect(after[2].lastRefreshedAt == claimed[2].lastRefreshedAt && after[2].leaseUntil == nil)
    }
}
