import Foundation
import Testing
import TokenKeeperTesting

@testable import TokenKeeper

/// Two `key rotate` runs at once: one keyring file, one store. Were both to rotate, one could
/// re-seal every token under a key the file no longer holds.
@Suite struct KeyRotationRaceCLITests {
    @Test(arguments: TestBackend.all)
    func twoRotationsAtOnceLeaveEveryTokenOpen(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let tokens = try await KeyRotationCLITests.addTokens(30, sandbox)
        try await sandbox.succeed("key", "rotate")
        for _ in 0..<3 {
            async let first = sandbox.cli.run(["key", "rotate"])
            async let second = sandbox.cli.run(["key", "rotate"])
            for result in try await [first, second] where result.status != 0 {
                // The one that lost waits for nothing and changes nothing.
                #expect(result.status == 74, "key rotate exited \(result.status): \(result.stderr)")
                // Refused at the lock, or, having read the keyring before the other one rewrote
                // it, at the key check.
                let refused = ["another `key rotate` or `key retire` is running", "does not match this database"]
                #expect(refused.contains { result.stderr.contains($0) }, "\(result.stderr)")
            }
        }
        let ring = try KeyRotationCLITests.ring(sandbox)
        let keys = try await KeyRotationCLITests.keys(sandbox)
        // Every token under the keyring's current key, none under a key the file lacks.
        #expect(keys.count == ring.entries.count)
        let current = keys.first { $0["id"] == .string(ring.currentID) }
        #expect(KeyRotationCLITests.tokens(current) == tokens.count)
        try await KeyRotationCLITests.expectOpen(tokens, sandbox)
        let verified = try await sandbox.succeed("audit", "verify")
        #expect(verified.stdout.contains("seal verified"))
    }

    /// A rotation that another host started meanwhile (the store's key moved, this host's file
    /// does not hold it) is stopped before it re-seals anything.
    @Test func aRotationSeesTheStoresKeyMoveAndStops() async throws {
        let sandbox = try await CLISandbox()
        let tokens = try await KeyRotationCLITests.addTokens(3, sandbox)
        let original = try #require(CLIFiles.bytes(sandbox.keyFilePath))
        try await sandbox.succeed("key", "rotate")
        // This host's keyring from before that rotation, as another host would still hold it.
        let other = sandbox.directory.file("other.key")
        try CLIFiles.write(String(decoding: original, as: UTF8.self), to: other)
        var elsewhere = sandbox.cli
        elsewhere.environment["TOKENKEEPER_MASTER_KEY_FILE"] = other
        let result = try await elsewhere.run(["key", "rotate"])
        #expect(result.status == 74, "\(result.stderr)")
        #expect(result.stderr.contains("does not match this database"), "\(result.stderr)")
        #expect(try #require(CLIFiles.bytes(other)) == original)
        try await KeyRotationCLITests.expectOpen(tokens, sandbox)
    }

    /// Two hosts, each with its own copy of the keyring, rotating at once: the store's key moves
    /// once. The other rotation is stopped before it re-seals anything, and its keyring file is
    /// put back as it was (or, had it started later, refused at once); every token opens with the
    /// winner's file.
    @Test(arguments: TestBackend.all)
    func twoHostsRotatingAtOnceMoveTheStoresKeyOnce(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let tokens = try await KeyRotationCLITests.addTokens(20, sandbox)
        let original = try #require(CLIFiles.bytes(sandbox.keyFilePath))
        let other = sandbox.directory.file("other-host.key")
        try CLIFiles.write(String(decoding: original, as: UTF8.self), to: other)
        var elsewhere = sandbox.cli
        elsewhere.environment["TOKENKEEPER_MASTER_KEY_FILE"] = other
        async let here = sandbox.cli.run(["key", "rotate"])
        async let there = elsewhere.run(["key", "rotate"])
        let results = try await [(here, sandbox.keyFilePath), (there, other)]
        let won = results.filter { $0.0.status == 0 }
        try #require(won.count == 1, "\(results.map { "\($0.0.status): \($0.0.stderr)" })")
        for (result, file) in results where result.status != 0 {
            #expect(result.status == 74, "\(result.stderr)")
            #expect(try #require(CLIFiles.bytes(file)) == original, "the losing host's keyring changed")
        }
        var winner = sandbox.cli
        winner.environment["TOKENKEEPER_MASTER_KEY_FILE"] = won[0].1
        try await KeyRotationCLITests.expectOpen(tokens, sandbox, winner)
        let verified = try await winner.run(["audit", "verify"])
        #expect(verified.stdout.contains("seal verified"), "\(verified.stdout)\(verified.stderr)")
    }

    /// A rotation stopped after it put its key in the file (not yet current) is finished with
    /// that key, whether or not the store had taken it; no other key is made.
    @Test(arguments: [false, true])
    func aRotationStoppedWithItsKeyStagedIsFinishedWithThatKey(storeMoved: Bool) async throws {
        let sandbox = try await CLISandbox()
        let tokens = try await KeyRotationCLITests.addTokens(5, sandbox)
        let ring = try KeyRotationCLITests.ring(sandbox)
        let fresh = ring.rotated(at: UnixTime(Date()))
        try fresh.making(current: ring.currentID).write(replacing: sandbox.keyFilePath)
        if storeMoved {
            let check = try #require(fresh.entry(id: fresh.currentID)).check
            try await sandbox.underTheSeam("UPDATE meta SET value = '\(check)' WHERE key = 'key_check'")
        }
        let result = try await sandbox.succeed("key", "rotate")
        #expect(result.stdout.hasPrefix("finished the rotation to key \(fresh.currentID): re-sealed 5 tokens"))
        let after = try KeyRotationCLITests.ring(sandbox)
        #expect(after.currentID == fresh.currentID && after.entries.count == 2)
        let keys = try await KeyRotationCLITests.keys(sandbox)
        #expect(KeyRotationCLITests.tokens(keys.first { $0["id"] == .string(fresh.currentID) }) == 5)
        try await KeyRotationCLITests.expectOpen(tokens, sandbox)
    }
}
