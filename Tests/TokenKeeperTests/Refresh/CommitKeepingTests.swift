import Foundation
import Logging
import SinchProvisioning
import Synchronization
import Testing
import TokenKeeperTesting

@testable import TokenKeeper

/// A token Sinch returned is never dropped: a commit that fails after the exchange (a server
/// restarting, a deadlock) is tried again while the lease holds, then kept in a recovery file;
/// and a commit seals under the store's key even when `key rotate` moved it mid-refresh.
@Suite struct CommitKeepingTests {
    /// The fixture's store, with something done to the writes that follow an exchange.
    final class AfterExchangeStore: TokenStore {
        let inner: any TokenStore
        let clock: ManualClock
        let exchanged = Atomic(false)
        /// Writes after the exchange that fail, as on a server that went away.
        let failing = Atomic(0)
        /// How far each failed write moves the clock (a long outage).
        let failureTakes = Mutex(Duration.zero)
        /// What a failing write throws: by default a failure that may pass (a deadlock).
        let failure = Mutex(TokenKeeperError(.databaseLocked, "deadlock detected; try again"))
        /// Run once, before the first write after the exchange.
        let once = Mutex<(@Sendable () throws -> Void)?>(nil)

        init(_ inner: any TokenStore, clock: ManualClock) {
            self.inner = inner
            self.clock = clock
        }
        var location: String { inner.location }
        var folder: String? { inner.folder }
        func healthProblem() -> String? { inner.healthProblem() }
        func read<T>(_ body: (any StoreReading) throws -> T) throws -> T { try inner.read(body) }
        func write<T>(bulk: Bool, _ body: (any StoreWriting) throws -> T) throws -> T {
            if exchanged.load(ordering: .relaxed) {
                if let hook = once.withLock({ hook in
                    defer { hook = nil }; return hook
                }) {
                    try hook()
                }
                if failing.load(ordering: .relaxed) > 0 {
                    failing.subtract(1, ordering: .relaxed)
                    clock.advance(by: failureTakes.withLock { $0 })
                    throw failure.withLock { $0 }
                }
            }
            return try inner.write(bulk: bulk, body)
        }
        func mapError(_ error: any Error) -> TokenKeeperError { inner.mapError(error) }
        func installAuditSealer(_ sealer: TokenSealer) { inner.installAuditSealer(sealer) }
    }

    /// Answers each refresh with a new token, remembers them, and tells the store it did.
    final class Exchange: TokenExchanging {
        let store: AfterExchangeStore
        let issued = Mutex<[String]>([])

        init(store: AfterExchangeStore) { self.store = store }

        func refresh(token: String, project: String, businessManager: String?) async throws(SinchError) -> String {
            let new = "EAAG-refreshed-\(UUID().uuidString)"
            issued.withLock { $0.append(new) }
            store.exchanged.store(true, ordering: .relaxed)
            return new
        }
    }

    /// A due token in `fixture`, an engine over the wrapped store with `sealer`.
    struct Harness {
        let fixture: StoreFixture
        let store: AfterExchangeStore
        let exchange: Exchange
        let engine: RefreshEngine
        let inventory: Inventory
        let id: String

        /// With `keyFile`, the fixture's key goes into that file and the engine's sealer follows
        /// it, as the tool's does.
        init(_ backend: TestBackend, keyFile: String? = nil) throws {
            fixture = try StoreFixture(backend)
            store = AfterExchangeStore(fixture.store, clock: fixture.clock)
            exchange = Exchange(store: store)
            var sealer = TokenSealer(masterKey: fixture.key)
            if let keyFile {
                try Keyring(single: fixture.key).write(replacing: keyFile)
                let read = Self.reader(keyFile)
                sealer = TokenSealer(keyring: try read(), file: keyFile, reload: read)
            }
            inventory = Inventory(
                store: store,
                policy: RenewalPolicy(),
                clock: fixture.clock,
                actor: "test:1",
                sealer: sealer
            )
            let now = fixture.clock.now
            id = try inventory.add(
                token: "EAAG-\(UUID().uuidString)",
                NewToken(project: "p1", issuedAt: now - .seconds(58 * 86_400), expiresAt: now + .seconds(2 * 86_400))
            ).id
            var limits = TokenKeeperConfiguration.Limits()
            limits.concurrency = 1
            limits.rate = 1_000
            engine = RefreshEngine(
                inventory: inventory,
                exchanger: exchange,
                limits: limits,
                owner: "test:1",
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            )
        }

        /// Reads the keyring in `path` as the tool does.
        static func reader(_ path: String) -> @Sendable () throws -> Keyring {
            { try Keyring(fileText: try Keyring.readKeyFile(path, checkingMode: true), source: .file(path)) }
        }
    }

    @Test(arguments: TestBackend.all)
    func aCommitThatFailsAfterTheExchangeIsTriedAgainUntilItLands(_ backend: TestBackend) async throws {
        let harness = try Harness(backend)
        harness.store.failing.store(3, ordering: .relaxed)

        let summary = try await harness.engine.runOnce()

        #expect(summary.refreshed == 1)
        let issued = harness.exchange.issued.withLock { $0 }
        #expect(issued.count == 1, "the token was exchanged \(issued.count) times")
        let record = try harness.inventory.token(id: harness.id)
        #expect(try harness.inventory.unsealed(record) == issued.first)
        #expect(record.leaseOwner == nil)
        let refreshed = try harness.fixture.auditEvents().filter { $0.event == "refreshed" }
        #expect(refreshed.count == 1)
    }

    /// A failure that will not pass by trying again (a full disk): the token goes to a recovery
    /// file at once, after one try, rather than holding the pass for the lease's five minutes.
    @Test func aCommitThatCannotPassKeepsTheTokenAtOnce() async throws {
        let harness = try Harness(.sqlite)
        harness.store.failing.store(1_000, ordering: .relaxed)
        harness.store.failure.withLock { $0 = TokenKeeperError(.database, "database or disk is full") }

        let error = await #expect(throws: RefreshInterrupted.self) { try await harness.engine.runOnce() }

        #expect(error?.report.message.contains("kept sealed in") == true, "\(error?.report.message ?? "")")
        // The commit and the release after it: nothing tried again.
        #expect(harness.store.failing.load(ordering: .relaxed) == 1_000 - 2)
    }

    /// The store stays down past the lease: the new token goes to a recovery file that replaces
    /// the record's token, and the error names it. The file lies beside the SQLite file, or for
    /// a server's database beside the key file (a daemon's working folder may be `/`).
    @Test(arguments: TestBackend.all)
    func aCommitThatCannotLandWithinTheLeaseKeepsTheTokenInARecoveryFile(_ backend: TestBackend) async throws {
        let keys = TemporaryDirectory()
        let harness = try Harness(backend, keyFile: keys.file("tokenkeeper.key"))
        harness.store.failing.store(1_000, ordering: .relaxed)
        harness.store.failureTakes.withLock { $0 = .seconds(100) }

        let error = await #expect(throws: RefreshInterrupted.self) { try await harness.engine.runOnce() }

        let message = try #require(error?.report.message)
        let path = try #require(
            message.firstMatch(of: /kept sealed in (\S+) \(0600\)/).map { String($0.output.1) },
            "\(message)"
        )
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        #expect(folder == (harness.store.folder ?? keys.path), "\(path)")
        let file = try RecoveryFile.read(path)
        #expect(file.replace == harness.id && file.project == "p1")
        let issued = try #require(harness.exchange.issued.withLock { $0 }.first)
        #expect(!message.contains(issued))
        #expect(harness.store.failing.load(ordering: .relaxed) <= 1_000 - 3, "tried again until the lease ended")

        // The store is back: `add --recover` puts the refreshed token into its record.
        harness.store.failing.store(0, ordering: .relaxed)
        let recovered = try harness.inventory.recover(from: path)
        #expect(recovered.id == harness.id)
        #expect(try harness.inventory.unsealed(harness.inventory.token(id: harness.id)) == issued)
    }

    /// `key rotate` runs between the refresh's sealing and its commit (it moves the store's key
    /// and re-seals every token): the commit seals the new value under the new key, so the
    /// rotation leaves no token under the old one.
    @Test(arguments: TestBackend.all)
    func aRotationDuringARefreshLeavesNoTokenUnderTheOldKey(_ backend: TestBackend) async throws {
        let directory = TemporaryDirectory()
        let path = directory.file("tokenkeeper.key")
        let harness = try Harness(backend, keyFile: path)
        let read = Harness.reader(path)
        let rotation = KeyRotation(
            store: harness.fixture.store,
            sealer: TokenSealer(keyring: try read(), file: path, reload: read),
            clock: harness.fixture.clock,
            actor: "cli:test"
        )
        // The engine's sealer follows the rotation before the commit, as a pass that read the
        // store's new key check would: its current key is the store's, its value is not.
        let sealer = try harness.inventory.requireSealer()
        harness.store.once.withLock {
            $0 = {
                _ = try rotation.rotate()
                sealer.follow(storeCheck: try read().current.check)
            }
        }

        #expect(try await harness.engine.runOnce().refreshed == 1)

        let after = KeyRotation(
            store: harness.fixture.store,
            sealer: TokenSealer(keyring: try read(), file: path, reload: read),
            clock: harness.fixture.clock,
            actor: "cli:test"
        )
        let keys = try after.list()
        let current = try #require(keys.first { $0.current })
        #expect(current.tokens == 1 && keys.filter { !$0.current }.allSatisfy { $0.tokens == 0 }, "\(keys)")
        let record = try harness.inventory.token(id: harness.id)
        let issued = harness.exchange.issued.withLock { $0.first }
        #expect(try TokenSealer(keyring: try read()).open(record.sealedToken, id: harness.id) == issued)
    }
}
