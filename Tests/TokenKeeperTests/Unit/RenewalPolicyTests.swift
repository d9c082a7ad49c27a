import Testing
import TokenKeeper

@Suite struct RenewalPolicyTests {
    let issued = UnixTime(seconds: 1_800_000_000)
    var expires: UnixTime { issued + .seconds(60 * 86_400) }

    @Test func refreshesAtTwoThirdsOfTheLifetimeWithoutJitter() {
        let policy = RenewalPolicy(jitter: .fraction(0))
        var generator = SystemRandom()
        #expect(
            policy.firstRefresh(issuedAt: issued, expiresAt: expires, using: &generator) == issued
                + .seconds(40 * 86_400)
        )
    }

    @Test func jitterTakesUpToTenPercentOfRenewBefore() {
        let policy = RenewalPolicy()
        var generator = SystemRandom()
        let latest = issued + .seconds(40 * 86_400)
        let earliest = latest - .seconds(2 * 86_400)
        var seen = Set<Int64>()
        for _ in 0..<500 {
            let refresh = policy.firstRefresh(issuedAt: issued, expiresAt: expires, using: &generator)
            #expect(refresh >= earliest && refresh <= latest)
            seen.insert(refresh.seconds)
        }
        #expect(seen.count > 400)  // spread out, not one instant for a batch
    }

    @Test func neverRefreshesYoungerThanMinAge() {
        let policy = RenewalPolicy(
            lifetime: .seconds(60 * 86_400),
            renewBefore: .seconds(59 * 86_400 + 23 * 3_600),
            jitter: .fraction(0)
        )
        var generator = SystemRandom()
        let refresh = policy.firstRefresh(issuedAt: issued, expiresAt: expires, using: &generator)
        #expect(refresh == issued + .seconds(86_400))
    }

    @Test func aTokenOfKnownAgeIsDueAtOnceWhenItsWindowHasPassed() {
        let policy = RenewalPolicy(jitter: .fraction(0))
        let oldIssue = issued - .seconds(50 * 86_400)
        var generator = SystemRandom()
        let refresh = policy.firstRefresh(
            issuedAt: oldIssue,
            expiresAt: oldIssue + .seconds(60 * 86_400),
            using: &generator
        )
        #expect(refresh < issued)  // in the past relative to "now" = issued: due
    }

    @Test func validationCatchesConflictingSettings() {
        #expect(throws: TokenKeeperError.self) {
            try RenewalPolicy(lifetime: .seconds(100), renewBefore: .seconds(200)).validate()
        }
        #expect(throws: TokenKeeperError.self) {
            try RenewalPolicy(jitter: .duration(.seconds(30 * 86_400))).validate()
        }
        #expect(throws: TokenKeeperError.self) {
            try RenewalPolicy(backoffMin: .seconds(600), backoffMax: .seconds(60)).validate()
        }
        #expect(throws: Never.self) { try RenewalPolicy().validate() }
        #expect(throws: Never.self) { try RenewalPolicy(lifetime: .seconds(30)).validate() }
    }
}
