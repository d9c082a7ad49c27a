import FakeSinch
import Testing
import TokenKeeperTesting

extension SinchHarness {
    /// Every token in `tokens` was exchanged exactly once at FakeSinch (counted per lineage), and
    /// no other exchange was made: the fleet proofs' "no double refresh".
    func expectEachExchangedOnce(_ tokens: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let exchanges = fake.stats().exchangesPerLineage
        for token in tokens {
            let lineage = try #require(fake.lineage(of: token), sourceLocation: sourceLocation)
            #expect(
                exchanges[lineage] == 1,
                "lineage \(lineage) exchanged \(exchanges[lineage] ?? 0) times",
                sourceLocation: sourceLocation
            )
        }
        #expect(fake.stats().count(.longLivedAccessToken) == tokens.count, sourceLocation: sourceLocation)
    }
}
