import GRDB
import Testing
import TokenKeeper
import TokenKeeperSQLite
import TokenKeeperTesting

@Suite struct ExpiryCheckTests {
    typealias Counts = ExpiryCheck.Counts

    @Test(arguments: [
        (Counts(total: 0), ExpiryCheck.Status.ok),
        (Counts(total: 5), .ok),
        (Counts(total: 5, warning: 1), .warning),
        (Counts(total: 5, critical: 1), .critical),
        (Counts(total: 5, expired: 1), .critical),
        (Counts(total: 5, needsReauth: 1, warning: 3), .critical),
    ])
    func statusFollowsTheWorstBucket(counts: Counts, expected: ExpiryCheck.Status) {
        #expect(ExpiryCheck.status(of: counts) == expected)
    }

    @Test func exitCodesFollowTheNagiosConvention() {
        #expect([ExpiryCheck.Status.ok, .warning, .critical, .unknown].map(\.exitCode) == [0, 1, 2, 3])
    }

    @Test(arguments: TestBackend.all)
    func countsEachTokenInItsWorstBucketAtTheThresholds(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let now = fixture.clock.now
        let day: Int64 = 86_400
        let reauth = try fixture.inventory.add(token: "EAAreauth", NewToken(project: "p"))
        let lapsed = try fixture.inventory.add(
            token: "EAAlapsed",
            NewToken(project: "p", expiresAt: now + .seconds(60))
        )
        try fixture.underTheSeam("UPDATE tokens SET state = 'needs_reauth' WHERE id = '\(reauth.id)'")
        fixture.clock.advance(by: .seconds(61))  // `lapsed` is past expiry but still marked active
        let later = fixture.clock.now
        // Expiring in 1d, exactly 3d (critical), 3d+1s and 14d (warning), 14d+1s and 60d (fine).
        for seconds in [day, 3 * day, 3 * day + 1, 14 * day, 14 * day + 1, 60 * day] {
            _ = try fixture.inventory.add(
                token: "EAA\(seconds)",
                NewToken(project: "p", expiresAt: later + .seconds(seconds))
            )
        }

        let report = try ExpiryCheck().run(on: fixture.inventory)
        #expect(report.counts == Counts(total: 8, needsReauth: 1, expired: 1, critical: 2, warning: 2))
        #expect(report.status == .critical)
        #expect(report.attention.first?.id == reauth.id)
        #expect(report.attention.contains { $0.id == lapsed.id })

        let relaxed = try ExpiryCheck(warn: .seconds(2 * 86_400), crit: .seconds(3_600)).run(on: fixture.inventory)
        #expect(relaxed.counts.critical == 0)
        #expect(relaxed.counts.warning == 1)
    }

    @Test func noTokensIsOK() throws {
        let fixture = try StoreFixture()
        let report = try ExpiryCheck().run(on: fixture.inventory)
        #expect(report.status == .ok)
        #expect(TextOutput.checkLine(report).hasPrefix("TOKENKEEPER OK - no tokens stored"))
    }
}
