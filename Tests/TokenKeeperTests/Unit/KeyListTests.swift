import Foundation
import Testing
import TokenKeeperTesting

@testable import TokenKeeper

/// `key list`'s counts on a real store: by header, by opening, and for keys the keyring lacks.
@Suite struct KeyListTests {
    @Test(arguments: TestBackend.all)
    func aTokenUnderAKeyTheKeyringLacksIsNamedApart(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        var ids: [String] = []
        for index in 0..<3 {
            ids.append(try fixture.inventory.add(token: "EAAkeylist\(index)", NewToken(project: "p1")).id)
        }
        let sealer = TokenSealer(masterKey: fixture.key)
        // One token re-sealed under a key the fixture's keyring does not hold.
        let elsewhere = TokenSealer(keyring: Keyring(single: fixture.key).rotated(at: fixture.clock.now))
        let stranger = elsewhere.keyring.currentID
        try fixture.store.write { store in
            let record = try #require(try store.token(id: ids[0]))
            let moved = try elsewhere.seal("EAAkeylist0", id: ids[0])
            #expect(try store.replaceSealedToken(id: ids[0], from: record.sealedToken, to: moved))
        }
        let rotation = KeyRotation(store: fixture.store, sealer: sealer, clock: fixture.clock, actor: "test")
        let keys = try rotation.list()
        #expect(keys.map(\.id) == [sealer.keyring.currentID, stranger])
        #expect(keys.map(\.tokens) == [2, 1])
        #expect(keys.map(\.current) == [true, false])
    }

    /// A value from before key ids counts for the key that opens it, in a keyring of several.
    @Test func aValueWithoutAHeaderCountsForTheKeyThatOpensIt() throws {
        let fixture = try StoreFixture()
        let id = try fixture.inventory.add(token: "EAAkeylistold", NewToken(project: "p1")).id
        try fixture.store.write { store in
            let record = try #require(try store.token(id: id))
            let legacy = record.sealedToken.dropFirst(9)
            #expect(try store.replaceSealedToken(id: id, from: record.sealedToken, to: Data(legacy)))
        }
        let ring = Keyring(single: fixture.key).rotated(at: fixture.clock.now)
        let rotation = KeyRotation(
            store: fixture.store,
            sealer: TokenSealer(keyring: ring),
            clock: fixture.clock,
            actor: "test"
        )
        let keys = try rotation.list()
        #expect(keys.map(\.tokens) == [1, 0])
        #expect(keys.map(\.current) == [false, true])
    }
}
