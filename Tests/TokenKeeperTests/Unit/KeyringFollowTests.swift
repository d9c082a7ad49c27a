import Foundation
import Testing
import TokenKeeperTesting

@testable import TokenKeeper

/// A sealer seals under the key another process's `key rotate` made current: it reads its key
/// file again when the file changed, or when a pass finds the store's key check moved.
@Suite struct KeyringFollowTests {
    /// A key file holding `ring`, and a sealer that reads it back as the tool's does.
    func sealer(for ring: Keyring, in directory: TemporaryDirectory) throws -> (TokenSealer, String) {
        let path = directory.file("tokenkeeper.key")
        try ring.write(replacing: path)
        let reload: @Sendable () throws -> Keyring = {
            try Keyring(fileText: try Keyring.readKeyFile(path, checkingMode: true), source: .file(path))
        }
        return (TokenSealer(keyring: ring, file: path, reload: reload), path)
    }

    // The sealer looks at its file, and reads it again, at most once a second (a real clock):
    // each case below is the first look of a fresh sealer.

    @Test func aKeyFileReplacedByARotationIsSealedUnderAtTheNextSeal() throws {
        let directory = TemporaryDirectory()
        let ring = Keyring(single: .generate())
        let (sealer, path) = try sealer(for: ring, in: directory)
        let rotated = ring.rotated(at: UnixTime(seconds: 1_800_000_000))
        try rotated.write(replacing: path)

        let sealed = try sealer.seal("EAAfollow", id: "tk_1")
        #expect(TokenSealer.keyID(ofSealed: sealed) == rotated.currentID)
        #expect(try sealer.open(sealed, id: "tk_1") == "EAAfollow")
    }

    @Test func aPassThatFindsTheStoresKeyMovedReadsTheKeyringAgain() throws {
        let directory = TemporaryDirectory()
        let ring = Keyring(single: .generate())
        let (sealer, path) = try sealer(for: ring, in: directory)
        let rotated = ring.rotated(at: UnixTime(seconds: 1_800_000_000))
        try rotated.write(replacing: path)

        sealer.follow(storeCheck: rotated.current.check)
        #expect(sealer.keyring.currentID == rotated.currentID)
    }

    /// A store check the file's current key does not have is not followed: the sealer keeps
    /// its key rather than take one the store does not use.
    @Test func aStoreCheckTheFileDoesNotHoldIsNotFollowed() throws {
        let directory = TemporaryDirectory()
        let ring = Keyring(single: .generate())
        let (sealer, path) = try sealer(for: ring, in: directory)
        try ring.rotated(at: UnixTime(seconds: 1_800_000_000)).write(replacing: path)

        sealer.follow(storeCheck: String(repeating: "0", count: 64))
        #expect(sealer.keyring.currentID == ring.currentID)
    }
}
