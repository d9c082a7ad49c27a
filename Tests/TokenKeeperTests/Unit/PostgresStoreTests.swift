import Foundation
import Testing
import TokenKeeper
import TokenKeeperPostgres
import TokenKeeperTesting

/// What only the PostgreSQL store has: URLs and their redaction, a schema several hosts create
/// at once, one audit chain for concurrent writers, clear connection errors. The behaviour both
/// stores share is in the suites that run against each (`TestBackend.all`).
@Suite struct PostgresStoreTests {
    static var server: Bool { TestBackend.all.contains(.postgres) }

    // MARK: - URLs (no server)

    @Test func aURLGetsLibpqsDefaults() throws {
        let url = try PostgresLocation("postgres://db.example", defaultUser: "ops")
        #expect(url.host == "db.example" && url.port == 5432)
        #expect(url.user == "ops" && url.database == "ops" && url.password == nil)
        #expect(url.sslMode == .prefer && url.applicationName == "tokenkeeper")
    }

    @Test func everyPartOfAURLIsRead() throws {
        let url = try PostgresLocation(
            "postgresql://tk%40ops:p%3Ass@[::1]:6543/tokens?sslmode=verify-full&sslrootcert=/etc/ca.pem&application_name=tk-a"
        )
        #expect(url.user == "tk@ops" && url.password == "p:ss")
        #expect(url.host == "::1" && url.port == 6543 && url.database == "tokens")
        #expect(url.sslMode == .verifyFull && url.sslRootCert == "/etc/ca.pem" && url.applicationName == "tk-a")
    }

    @Test func theRedactedFormNeverHoldsThePassword() throws {
        let url = try PostgresLocation("postgres://tk:Sup3rSecret@db:5432/tk?sslmode=require")
        #expect(!url.redacted.contains("Sup3rSecret"))
        #expect(url.redacted == "postgres://tk:redacted@db:5432/tk?sslmode=require")
        #expect(try PostgresLocation("postgres://tk@db/tk").redacted == "postgres://tk@db:5432/tk?sslmode=prefer")
    }

    @Test(arguments: [
        "postgres://db/tk?sslmode=sometimes",
        "postgres://db/tk?sslrootcert=/ca.pem",
        "postgres://db/tk?options=-c%20x",
        "postgres:///tk",
        "postgres://db:99999/tk",
        "postgres://db/a/b",
    ])
    func anUnusableURLIsAUsageErrorThatNamesWhy(_ text: String) {
        #expect {
            try PostgresLocation(text)
        } throws: { error in
            let error = error as? TokenKeeperError
            return error?.code.exitCode == 64 && error!.message.contains("the database URL is not usable")
        }
    }

    @Test func aPasswordInTheURLIsNoticed() {
        #expect(PostgresLocation.hasPassword("postgres://tk:pw@db/tk"))
        #expect(!PostgresLocation.hasPassword("postgres://tk@db/tk"))
        #expect(!PostgresLocation.hasPassword("/var/lib/tokenkeeper/tk.sqlite"))
    }

    // MARK: - Against the run's server

    func backend() -> PostgresBackend { PostgresBackend(password: TestPostgres.server?.password) }

    @Test(.enabled(if: server)) func aDatabaseWithoutTheSchemaSaysToRunInit() throws {
        let url = try TestPostgres.freshDatabase()
        #expect {
            try backend().open(at: url, readOnly: true)
        } throws: { error in
            let error = error as? TokenKeeperError
            return error?.code == .databaseMissing && error!.message.contains("tokenkeeper init")
        }
        #expect(try backend().openIfPresent(at: url) == nil)
        // Nothing was created by looking.
        #expect(try TestPostgres.sql(url, "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'") == "0\n")
    }

    @Test(.enabled(if: server)) func hostsThatCreateTheSchemaAtOnceApplyEachMigrationOnce() async throws {
        let url = try TestPostgres.freshDatabase()
        let backend = backend()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask { try await onOwnThread { _ = try backend.create(at: url) } }
            }
            try await group.waitForAll()
        }
        let applied = try TestPostgres.sql(url, "SELECT COUNT(*), COUNT(DISTINCT name) FROM tokenkeeper_migrations")
        #expect(applied == "7|7\n")
        let indexes = try TestPostgres.sql(url, "SELECT indexname FROM pg_indexes WHERE tablename = 'tokens'")
        for name in [
            "tokens_refresh_at", "tokens_expires_at", "tokens_attention", "tokens_fingerprint", "tokens_troubled",
            "tokens_probe_at",
        ] {
            #expect(indexes.contains(name))
        }
    }

    @Test(.enabled(if: server)) func writersOnSeveralConnectionsMakeOneChainWithoutForks() async throws {
        let fixture = try StoreFixture(.postgres)
        let key = fixture.key
        let location = fixture.location
        // Four processes' worth of stores, each with its own pool, adding at the same time.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<4 {
                group.addTask {
                    try await onOwnThread {
                        let store = try PostgresBackend(password: TestPostgres.server?.password)
                            .open(at: location, readOnly: false)
                        let sealer = TokenSealer(masterKey: key)
                        try store.bind(to: sealer)
                        let inventory = Inventory(
                            store: store,
                            policy: RenewalPolicy(),
                            actor: "w\(writer)",
                            sealer: sealer
                        )
                        for index in 0..<15 {
                            _ = try inventory.add(token: "EAAfleet\(writer)x\(index)", NewToken(project: "p1"))
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let events = try fixture.auditEvents()
        #expect(events.map(\.seq) == Array(1...60))
        #expect(try fixture.inventory.verifyAudit() == .intact(count: 60, head: events.last!.hash))
        #expect(try TestPostgres.sql(location, "SELECT seq FROM audit_head") == "60\n")
    }

    /// A COPY goes on while the transaction's next work is done, and is waited for by its next
    /// statement: a row the server refuses (here a trigger's error on the 90th) still fails the
    /// whole transaction, nothing of it is stored, and the connection serves the next write.
    @Test(.enabled(if: server)) func aCopyTheServerRefusesFailsItsTransaction() throws {
        let fixture = try StoreFixture(.postgres)
        try fixture.underTheSeam(
            """
            CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.label = 'refused' THEN RAISE EXCEPTION 'row refused by the test'; END IF; RETURN NEW; END $$;
            CREATE TRIGGER refuse BEFORE INSERT ON tokens FOR EACH ROW EXECUTE FUNCTION refuse();
            """
        )
        let now = fixture.clock.now
        var records = (0..<100).map { StoreTests.record($0, at: now) }
        records[89].label = "refused"
        let audit = AuditLog(actor: "test")
        #expect {
            try fixture.store.write { store in
                _ = try store.insertTokens(records)
                var tail = try store.auditTail()
                for record in records {
                    try audit.append(store, after: &tail, event: .added, tokenID: record.id, detailJSON: "{}", at: now)
                }
            }
        } throws: { error in
            (error as? TokenKeeperError)?.message.contains("row refused by the test") == true
        }
        #expect(try TestPostgres.sql(fixture.location, "SELECT count(*) FROM tokens") == "0\n")
        #expect(try TestPostgres.sql(fixture.location, "SELECT count(*) FROM audit") == "0\n")
        _ = try fixture.inventory.add(token: "EAAafter", NewToken(project: "p1"))
        #expect(try fixture.inventory.verifyAudit().description.hasPrefix("audit chain intact: 1 events"))
    }

    @Test(.enabled(if: server)) func aWrongPasswordIsSaidPlainlyWithoutThePassword() throws {
        let url = try TestPostgres.freshDatabase()
        #expect {
            try PostgresBackend(password: "Wr0ngPassw0rd").open(at: url, readOnly: true)
        } throws: { error in
            let error = error as? TokenKeeperError
            return error?.code.exitCode == 74 && error!.message.contains("password authentication failed")
                && !error!.message.contains("Wr0ngPassw0rd")
        }
    }

    @Test(.enabled(if: server)) func aServerNobodyListensOnIsUnreachableNotATimeout() throws {
        #expect {
            try backend().open(at: "postgres://tokenkeeper@127.0.0.1:1/tk?sslmode=disable", readOnly: true)
        } throws: { error in
            (error as? TokenKeeperError)?.message.contains(
                "cannot reach PostgreSQL at postgres://tokenkeeper@127.0.0.1:1/tk"
            )
                == true
        }
    }
}
