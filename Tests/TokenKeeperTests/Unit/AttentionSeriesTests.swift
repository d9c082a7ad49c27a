import Foundation
import Testing

@testable import TokenKeeper

/// `metrics.per_token`'s selections of the per-token series, read a page at a time from a real
/// store: `attention` names the tokens expiring within the horizon and the later ones in
/// trouble, `none` names none, `all` every one.
@Suite struct AttentionSeriesTests {
    static let day: Int64 = 86_400
    static let horizonDays: Int64 = 14

    /// A store of every kind of token, and which of them `attention` must name.
    struct Mix {
        let fixture: StoreFixture
        let horizon: UnixTime
        /// Tokens `attention` names: expiring at or before the horizon, or later and in trouble.
        let attention: Set<String>
        /// Active, no failures, expiring after the horizon: never named by `attention`.
        let healthy: Set<String>
    }

    /// `healthyCount` healthy tokens far from expiry (and one a second past the horizon); active
    /// tokens expiring within the horizon (three at the same second, one exactly at it); a
    /// retrying one at the horizon and a needs_reauth one inside it; beyond it a retrying, a
    /// needs_reauth, an expired and an active-with-failures token.
    static func mix(_ backend: TestBackend, healthyCount: Int = 4) throws -> Mix {
        let fixture = try StoreFixture(backend)
        let now = fixture.clock.now
        let horizon = now + .seconds(horizonDays * day)
        var serial = 0
        func add(expiresAt: UnixTime, project: String = "p1") throws -> String {
            serial += 1
            let new = NewToken(project: project, label: "token \(serial)", expiresAt: expiresAt)
            return try fixture.inventory.add(token: "EAAattention\(serial)VALUE", new).id
        }
        func mark(_ id: String, _ assignment: String) throws {
            try fixture.underTheSeam("UPDATE tokens SET \(assignment) WHERE id = '\(id)'")
        }

        var healthy: Set<String> = []
        for index in 0..<healthyCount {
            // Within a lifetime (60 days) of now, however many: an hour apart from 30 days on.
            let expires = now + .seconds(30 * day + Int64(index) * 3_600)
            healthy.insert(try add(expiresAt: expires, project: "p\(index % 3)"))
        }
        healthy.insert(try add(expiresAt: horizon + .seconds(1)))

        var attention: Set<String> = []
        let sameSecond = now + .seconds(2 * day)
        for _ in 0..<3 { attention.insert(try add(expiresAt: sameSecond)) }
        attention.insert(try add(expiresAt: now + .seconds(day / 2)))
        attention.insert(try add(expiresAt: now + .seconds(10 * day)))
        attention.insert(try add(expiresAt: horizon))

        let retryingAtHorizon = try add(expiresAt: horizon)
        try mark(retryingAtHorizon, "state = 'retrying', failures = 1")
        let reauthInside = try add(expiresAt: now + .seconds(5 * day))
        try mark(reauthInside, "state = 'needs_reauth', failures = 1")
        let retryingFar = try add(expiresAt: now + .seconds(40 * day))
        try mark(retryingFar, "state = 'retrying', failures = 2")
        let reauthFar = try add(expiresAt: now + .seconds(50 * day))
        try mark(reauthFar, "state = 'needs_reauth'")
        let expiredFar = try add(expiresAt: now + .seconds(45 * day))
        try mark(expiredFar, "state = 'expired'")
        let failingActive = try add(expiresAt: now + .seconds(35 * day))
        try mark(failingActive, "failures = 3")
        attention.formUnion([retryingAtHorizon, reauthInside, retryingFar, reauthFar, expiredFar, failingActive])
        return Mix(fixture: fixture, horizon: horizon, attention: attention, healthy: healthy)
    }

    /// Every page until the end, each read in its own transaction as the endpoint does.
    static func pages(
        _ fixture: StoreFixture,
        pageSize: Int,
        selection: TokenKeeperConfiguration.PerTokenSeries,
        horizon: UnixTime
    ) throws -> [String] {
        var series = TokenSeries(pageSize: pageSize, selection: selection, horizon: horizon)
        var pages: [String] = []
        while let page = try fixture.store.read({ try series.next($0) }) {
            pages.append(String(decoding: page, as: UTF8.self))
        }
        return pages
    }

    /// The samples `records` should have in a family: id, project, label and the value.
    static func expected(
        _ records: [TokenRecord],
        _ value: (TokenRecord) -> UnixTime
    ) -> [String: PrometheusText.Sample] {
        Dictionary(
            uniqueKeysWithValues: records.map { record in
                let labels = ["id": record.id, "project": record.projectID, "label": record.label ?? ""]
                return (record.id, PrometheusText.Sample(labels: labels, value: Double(value(record).seconds)))
            }
        )
    }

    /// The lines of `text` that start with `prefix`.
    static func count(_ prefix: String, in text: String) -> Int {
        text.split(separator: "\n").filter { $0.hasPrefix(prefix) }.count
    }

    /// How many pages a range of `rows` takes: full pages, then a short (maybe empty) one.
    static func pagesFor(_ rows: Int, pageSize: Int) -> Int { rows / pageSize + 1 }

    @Test(arguments: TestBackend.all, [1, 2, 10_000])
    func attentionNamesEveryTokenThatNeedsItOnceAndNoHealthyOne(_ backend: TestBackend, pageSize: Int) throws {
        let mix = try Self.mix(backend)
        let pages = try Self.pages(mix.fixture, pageSize: pageSize, selection: .attention, horizon: mix.horizon)
        let text = pages.joined()

        let records = try mix.fixture.allTokens()
        let named = records.filter { mix.attention.contains($0.id) }
        let live = named.filter { TokenState.live.contains($0.state) }
        #expect(named.count == 12 && live.count == 9)
        // Each id at most once per family (PrometheusText flags a repeat), with its values.
        let expiries = PrometheusText.samples("tokenkeeper_token_expiry_timestamp_seconds", in: text)
        let refreshes = PrometheusText.samples("tokenkeeper_token_refresh_timestamp_seconds", in: text)
        #expect(expiries == Self.expected(named, \.expiresAt))
        #expect(refreshes == Self.expected(live, \.refreshAt))
        #expect(Set(expiries.keys).isDisjoint(with: mix.healthy))
        #expect(Self.count("tokenkeeper_token_expiry_timestamp_seconds{", in: text) == named.count)
        #expect(Self.count("tokenkeeper_token_refresh_timestamp_seconds{", in: text) == live.count)

        // One HELP and TYPE per family, expiry's before all of its samples, refresh's after them.
        let lines = text.split(separator: "\n").map(String.init)
        #expect(Self.count("# HELP tokenkeeper_token_expiry_timestamp_seconds ", in: text) == 1)
        #expect(Self.count("# TYPE tokenkeeper_token_expiry_timestamp_seconds gauge", in: text) == 1)
        #expect(Self.count("# HELP tokenkeeper_token_refresh_timestamp_seconds ", in: text) == 1)
        #expect(Self.count("# TYPE tokenkeeper_token_refresh_timestamp_seconds gauge", in: text) == 1)
        let refreshHelp = try #require(lines.firstIndex { $0.hasPrefix("# HELP tokenkeeper_token_refresh_") })
        #expect(lines.first?.hasPrefix("# HELP tokenkeeper_token_expiry_") == true)
        #expect(lines[..<refreshHelp].allSatisfy { !$0.hasPrefix("tokenkeeper_token_refresh_") })
        #expect(lines[refreshHelp...].allSatisfy { !$0.hasPrefix("tokenkeeper_token_expiry_") })

        // Expiry: 8 tokens within the horizon, 4 troubled after it; refresh: 7 and 2 of them live.
        let ranges = [8, 4, 7, 2]
        #expect(pages.count == ranges.map { Self.pagesFor($0, pageSize: pageSize) }.reduce(0, +))
    }

    @Test(arguments: TestBackend.all)
    func attentionPagesReadOnlyTheTokensThatNeedAttention(_ backend: TestBackend) throws {
        // 60 healthy tokens: were either range to read them, there would be ~30 more pages of 2.
        let mix = try Self.mix(backend, healthyCount: 60)
        let pages = try Self.pages(mix.fixture, pageSize: 2, selection: .attention, horizon: mix.horizon)
        // Expiry: 8 within the horizon (4 full pages, an empty one), 4 troubled after it (2, 1);
        // refresh: 7 live within it (3 full, 1 short), 2 after it (1, 1).
        #expect(pages.count == 5 + 3 + 4 + 2)
        let text = pages.joined()
        #expect(
            Set(PrometheusText.samples("tokenkeeper_token_expiry_timestamp_seconds", in: text).keys) == mix.attention
        )
        for id in mix.healthy { #expect(!text.contains(id), "healthy \(id) was named") }
        // Every page holds at most a page of samples: none was padded with other rows.
        for page in pages {
            #expect(Self.count("tokenkeeper_token_", in: page) <= 2, "\(page)")
        }
    }

    @Test(arguments: TestBackend.all, [1, 10_000])
    func noneWritesNoSeries(_ backend: TestBackend, pageSize: Int) throws {
        let mix = try Self.mix(backend)
        let pages = try Self.pages(mix.fixture, pageSize: pageSize, selection: .none, horizon: mix.horizon)
        #expect(pages.isEmpty)
        #expect(!pages.joined().contains("tokenkeeper_token_"))
    }

    @Test(arguments: TestBackend.all, [1, 2, 10_000])
    func allStillNamesEveryToken(_ backend: TestBackend, pageSize: Int) throws {
        let mix = try Self.mix(backend)
        let pages = try Self.pages(mix.fixture, pageSize: pageSize, selection: .all, horizon: mix.horizon)
        let text = pages.joined()
        let records = try mix.fixture.allTokens()
        let live = records.filter { TokenState.live.contains($0.state) }
        #expect(records.count == 17 && live.count == 14)
        #expect(
            PrometheusText.samples("tokenkeeper_token_expiry_timestamp_seconds", in: text)
                == Self.expected(records, \.expiresAt)
        )
        #expect(
            PrometheusText.samples("tokenkeeper_token_refresh_timestamp_seconds", in: text)
                == Self.expected(live, \.refreshAt)
        )
        #expect(Self.count("# HELP tokenkeeper_token_", in: text) == 2)
        #expect(pages.count == Self.pagesFor(17, pageSize: pageSize) + Self.pagesFor(14, pageSize: pageSize))
    }
}
