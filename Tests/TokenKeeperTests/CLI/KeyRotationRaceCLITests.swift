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
                #expect(result.stderr.contains("another `key rotate` or `key retire` is running"), "\(result.stderr)")
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
}
