import Foundation
import Synchronization
import Testing
import TokenKeeperTesting

@testable import TokenKeeper

/// The keyring file's two forms, rotation, and sealed values across keys and reloads.
@Suite struct KeyringTests {
    let token = "EAAGm0PX4ZCpsBAKZBZCexampletokenvalue1234567890"
    let source = MasterKey.Source.file("/etc/tokenkeeper/tokenkeeper.key")

    static func base64() -> String { Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString() }

    /// A keyring of two keys, the second current, as `key rotate` writes it.
    func rotatedRing() throws -> Keyring {
        try Keyring(fileText: Self.base64() + "\n", source: source).rotated(at: UnixTime(seconds: 1_800_000_000))
    }

    /// The configuration error reading `text` gives; nil when it reads.
    func problem(_ text: String) -> TokenKeeperError? {
        do {
            _ = try Keyring(fileText: text, source: source)
            return nil
        } catch {
            return error as? TokenKeeperError
        }
    }

    @Test func aOneLineKeyFileIsAKeyringOfThatKey() throws {
        let key = Self.base64()
        let ring = try Keyring(fileText: "\n" + key + "\n\n", source: source)
        let single = Keyring(single: try MasterKey(base64: key, source: .environment))
        #expect(ring.entries.count == 1)
        #expect(ring.currentID == single.currentID && ring.current.createdAt == nil)
        #expect(ring.currentID.count == 16 && ring.currentID.allSatisfy(\.isHexDigit))
        #expect(TokenSealer(keyring: ring).fingerprint(token) == TokenSealer(keyring: single).fingerprint(token))
        #expect(TokenSealer(keyring: ring).keyCheck == TokenSealer(keyring: single).keyCheck)
        #expect(problem("notbase64!\n")?.message.contains("is not base64 of 32 bytes") == true)
    }

    @Test func theKeyringFormReadsBackAsWritten() throws {
        let ring = try rotatedRing()
        let text = ring.fileText
        #expect(text.hasPrefix("# tokenkeeper keyring"))
        let read = try Keyring(fileText: "\n# a comment of the operator's\n" + text, source: source)
        #expect(read.entries.map(\.id) == ring.entries.map(\.id))
        #expect(read.currentID == ring.currentID && read.currentID == ring.entries[1].id)
        #expect(read.entries.map(\.createdAt) == [nil, UnixTime(seconds: 1_800_000_000)])
        let sameKeys = read.entries.map(\.base64) == ring.entries.map(\.base64)
        #expect(sameKeys, "the keys read back differ")
        #expect(TokenSealer(keyring: read).fingerprint(token) == TokenSealer(keyring: ring).fingerprint(token))
    }

    @Test func aDamagedKeyringIsAConfigurationErrorNamingWhatIsWrong() throws {
        let ring = try rotatedRing()
        let lines = ring.fileText.split(separator: "\n").map(String.init)
        let (comment, fingerprint, old, new) = (lines[0], lines[1], lines[2], lines[3])
        let otherID = String(repeating: "0", count: 16)
        let cases: [(String, [String], String)] = [
            (
                // Numbered as the file's lines are, the comment above them counted.
                "a line of neither kind", [fingerprint, old, "key " + new.dropFirst(4).prefix(16), new],
                "line 4 is neither `fingerprint-key BASE64` nor `key ID CREATED ROLE BASE64`"
            ),
            (
                "a key that is not base64",
                [fingerprint, old, new.replacingOccurrences(of: ring.current.base64, with: "AAAA")],
                "is not base64 of 32 bytes"
            ),
            (
                "a wrong id", [fingerprint, old.replacingOccurrences(of: ring.entries[0].id, with: otherID), new],
                "is not the key \(otherID) its line names"
            ),
            (
                "two current keys", [fingerprint, old.replacingOccurrences(of: " previous ", with: " current "), new],
                "more than one key is current"
            ),
            (
                "no current key", [fingerprint, old, new.replacingOccurrences(of: " current ", with: " previous ")],
                "no key is current"
            ),
            (
                "an unknown role", [fingerprint, old.replacingOccurrences(of: " previous ", with: " spare "), new],
                "is neither `current` nor `previous`"
            ),
            ("no fingerprint key", [old, new], "it has no fingerprint-key line"),
            (
                "a short fingerprint key", ["fingerprint-key AAAA", old, new],
                "fingerprint key is not base64 of 32 bytes"
            ),
            ("a key twice", [fingerprint, old, old, new], "is there twice"),
            (
                "a bad time",
                [fingerprint, old, new.replacingOccurrences(of: "2027-01-15T08:00:00Z", with: "yesterday")],
                "has no valid time"
            ),
        ]
        let secrets = ring.entries.map(\.base64) + [String(fingerprint.dropFirst("fingerprint-key ".count))]
        for (what, body, expected) in cases {
            let error = try #require(problem(([comment] + body).joined(separator: "\n")), "\(what) was read")
            #expect(error.code == .configuration, "\(what)")
            #expect(error.message.contains(expected), "\(what): \(error.message)")
            #expect(error.message.contains("key file /etc/tokenkeeper/tokenkeeper.key"), "\(what): \(error.message)")
            let leaked = secrets.contains { error.message.contains($0) }
            #expect(!leaked, "\(what): the message holds a key")
        }
    }

    @Test func rotatedKeepsTheOldKeysAndTheFingerprintKey() throws {
        let first = try Keyring(fileText: Self.base64(), source: source)
        let second = first.rotated(at: UnixTime(seconds: 1_800_000_000))
        let third = second.rotated(at: UnixTime(seconds: 1_800_000_100))
        #expect(Array(third.entries.map(\.id).prefix(2)) == second.entries.map(\.id))
        #expect(second.entries.first?.id == first.currentID)
        #expect(third.entries.count == 3 && Set(third.entries.map(\.id)).count == 3)
        #expect(third.currentID == third.entries[2].id && third.current.createdAt == UnixTime(seconds: 1_800_000_100))
        let keptKeys = Array(third.entries.map(\.base64).prefix(2)) == second.entries.map(\.base64)
        #expect(keptKeys, "a rotation changed an older key")
        let fingerprints = [first, second, third].map { TokenSealer(keyring: $0).fingerprint(token) }
        #expect(Set(fingerprints).count == 1)
        #expect(Set([first, second, third].map(\.current.check)).count == 3)
        #expect(third.removing(id: first.currentID).entries.map(\.id) == Array(third.entries.map(\.id).dropFirst()))
    }

    @Test func valuesSealedUnderEarlierKeysOpenWithTheRotatedKeyring() throws {
        let first = try Keyring(fileText: Self.base64(), source: source)
        let sealed = try TokenSealer(keyring: first).seal(token, id: "tk_1")
        #expect(TokenSealer.keyID(ofSealed: sealed) == first.currentID)
        // Sealed before keyrings: no version byte and key id.
        let legacy = Data(sealed.dropFirst(TokenSealer.headerSize))
        let rotated = TokenSealer(
            keyring: first.rotated(at: UnixTime(seconds: 1_800_000_000)).rotated(at: .init(seconds: 1_800_000_001))
        )
        #expect(try rotated.open(legacy, id: "tk_1") == token)
        #expect(try rotated.open(sealed, id: "tk_1") == token)
        #expect(throws: TokenKeeperError.self) { try rotated.open(legacy, id: "tk_2") }
        // New values are sealed under the current key only.
        let fresh = try rotated.seal(token, id: "tk_1")
        #expect(TokenSealer.keyID(ofSealed: fresh) == rotated.keyring.currentID)
        #expect(throws: TokenKeeperError.self) { try TokenSealer(keyring: first).open(fresh, id: "tk_1") }
    }

    @Test func aSealerWithAReloadOpensAValueUnderAKeyItLacked() async throws {
        let first = try Keyring(fileText: Self.base64(), source: source)
        let second = first.rotated(at: UnixTime(seconds: 1_800_000_000))
        let disk = KeyFileStandIn(first)
        let sealer = TokenSealer(keyring: first) { disk.read() }
        let sealed = try TokenSealer(keyring: second).seal(token, id: "tk_1")
        // The file does not have the key yet: the open fails, naming the key it needs.
        try await waitUntil("a reload", within: .seconds(10)) {
            #expect {
                try sealer.open(sealed, id: "tk_1")
            } throws: { error in
                (error as? TokenKeeperError)?.code == .wrongKey
                    && (error as? TokenKeeperError)?.message.contains("sealed under key \(second.currentID)") == true
            }
            return disk.reads.withLock { $0 } > 0
        }
        // Another process rotated: the next reload finds the key (at most one a second).
        disk.ring.withLock { $0 = second }
        try await waitUntil("the value to open after a reload", within: .seconds(10)) {
            (try? sealer.open(sealed, id: "tk_1")) == token
        }
        #expect(sealer.keyring.currentID == second.currentID)
        #expect(TokenSealer.keyID(ofSealed: try sealer.seal(token, id: "tk_2")) == second.currentID)
        #expect(sealer.fingerprint(token) == TokenSealer(keyring: first).fingerprint(token))
        // Once the key is known, no more reloads.
        let count = disk.reads.withLock { $0 }
        #expect(try sealer.open(sealed, id: "tk_1") == token)
        #expect(disk.reads.withLock { $0 } == count)
    }
}

/// What a sealer's reload reads: the keyring "on disk", and how many times it was read.
private final class KeyFileStandIn: Sendable {
    let ring: Mutex<Keyring>
    let reads = Mutex(0)

    init(_ ring: Keyring) { self.ring = Mutex(ring) }

    func read() -> Keyring {
        reads.withLock { $0 += 1 }
        return ring.withLock { $0 }
    }
}
