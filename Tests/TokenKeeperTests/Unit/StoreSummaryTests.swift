import Foundation
import Testing
import TokenKeeper
import TokenKeeperTesting

/// The store-wide figures of `status` and `/metrics` (``StoreSummary``), read from a real store
/// with a manual clock, and their Prometheus text.
@Suite struct StoreSummaryTests {
    static let day: Int64 = 86_400

    /// One sample line of Prometheus text.
    struct Line: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    /// Every sample line of `text`, in order (labels unescaped by ``PrometheusText/labels(_:)``).
    static func lines(_ text: String) -> [Line] {
        text.split(separator: "\n").compactMap { line -> Line? in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "),
                let value = Double(line[line.index(after: space)...])
            else { return nil }
            let series = line[..<space]
            guard let open = series.firstIndex(of: "{") else {
                return Line(name: String(series), labels: [:], value: value)
            }
            let labels = PrometheusText.labels(
                series[series.index(after: open)..<series.index(before: series.endIndex)]
            )
            return Line(name: String(series[..<open]), labels: labels, value: value)
        }
    }

    /// The samples of `name`, by the value of `label`.
    static func samples(_ name: String, by label: String, in lines: [Line]) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in lines where line.name == name {
            let key = line.labels[label] ?? ""
            #expect(samples[key] == nil, "\(name){\(label)=\(key)} appears twice")
            samples[key] = line.value
        }
        return samples
    }

    /// A store holding live tokens in and out of each window (one past its expiry), tokens that
    /// need a person expiring before all of them, refresh times set under the seam, and
    /// refreshers that beat from a minute to a day and a second ago.
    struct Scene {
        let fixture: StoreFixture
        let now: UnixTime
        let lapsed: TokenRecord
        let refreshers: [RefresherHeartbeat]
    }

    static func scene(_ backend: TestBackend) throws -> Scene {
        let fixture = try StoreFixture(backend)
        let inventory = fixture.inventory
        var serial = 0
        @discardableResult
        func add(_ expiresAt: UnixTime?) throws -> TokenRecord {
            serial += 1
            return try inventory.add(token: "EAAsummary\(serial)VALUE", NewToken(project: "p1", expiresAt: expiresAt))
        }
        func set(_ id: String, _ assignment: String) throws {
            try fixture.underTheSeam("UPDATE tokens SET \(assignment) WHERE id = '\(id)'")
        }
        let lapsed = try add(fixture.clock.now + .seconds(60))
        fixture.clock.advance(by: .seconds(61))  // past its expiry, still active
        let now = fixture.clock.now
        func at(_ seconds: Int64) -> UnixTime { now + .seconds(seconds) }

        try add(at(day / 2))
        try add(at(day))  // the 1d window's edge: inside
        let retrying = try add(at(2 * day))
        try set(retrying.id, "state = 'retrying', failures = 1")
        try add(at(3 * day + 1))
        try add(at(7 * day))
        let soon = try add(at(10 * day))
        let held = try add(at(20 * day))
        try add(at(45 * day))
        try add(nil)  // the default lifetime: 60 days
        let reauth = try add(at(6 * 3_600))
        try set(reauth.id, "state = 'needs_reauth', expires_at = \(at(-3 * day).seconds)")
        let expired = try add(at(day))
        try set(expired.id, "state = 'expired', expires_at = \(at(-2 * day).seconds)")

        // The next refresh: `soon`'s, in 2h. The needs_reauth one (in 1m) is not live, and the
        // one another process holds (in 1h) is not this store's next.
        try fixture.underTheSeam("UPDATE tokens SET refresh_at = \(at(30 * day).seconds)")
        try set(soon.id, "refresh_at = \(at(7_200).seconds)")
        try set(reauth.id, "refresh_at = \(at(60).seconds)")
        try set(
            held.id,
            "refresh_at = \(at(3_600).seconds), lease_owner = 'other:1:0', lease_until = \(at(300).seconds)"
        )

        let host = ProcessInfo.processInfo.hostName
        let refreshers = [
            RefresherHeartbeat(
                owner: "a:1:1",
                host: host,
                pid: 1,
                kind: .daemon,
                version: "1.0",
                startedAt: at(-day),
                beatAt: at(-60),
                lastPassAt: at(-90),
                lastPassOK: true
            ),
            // Three minutes ago exactly: still live.
            RefresherHeartbeat(
                owner: "b:2:2",
                host: host,
                pid: 2,
                kind: .runOnce,
                version: "1.0",
                startedAt: at(-240),
                beatAt: at(-180),
                lastPassAt: at(-200),
                lastPassOK: false,
                lastErrorClass: "database"
            ),
            RefresherHeartbeat(
                owner: "c:3:3",
                host: host,
                pid: 3,
                kind: .daemon,
                version: "1.0",
                startedAt: at(-181),
                beatAt: at(-181)
            ),
            // A day ago exactly: listed, stale; its host needs escaping in a label.
            RefresherHeartbeat(
                owner: "d:4:4",
                host: #"odd "host" \ name"#,
                pid: 4,
                kind: .daemon,
                version: "0.9",
                startedAt: at(-2 * day),
                beatAt: at(-day),
                lastPassAt: at(-day - 100),
                lastPassOK: true
            ),
            // A day and a second ago: no longer listed.
            RefresherHeartbeat(
                owner: "e:5:5",
                host: host,
                pid: 5,
                kind: .runOnce,
                version: "0.9",
                startedAt: at(-day - 2),
                beatAt: at(-day - 1),
                lastPassAt: at(-day - 1),
                lastPassOK: true
            ),
        ]
        for beat in refreshers {
            try fixture.store.write { try $0.recordHeartbeat(beat, forgetBefore: now - .seconds(7 * day)) }
        }
        return Scene(fixture: fixture, now: now, lapsed: lapsed, refreshers: refreshers)
    }

    static func summary(_ fixture: StoreFixture) throws -> StoreSummary {
        let now = fixture.clock.now
        return try fixture.store.read { try StoreSummary(reading: $0, now: now) }
    }

    @Test(arguments: TestBackend.all)
    func countsStatesWindowsNextExpiryAndNextRefresh(_ backend: TestBackend) throws {
        let scene = try Self.scene(backend)
        let summary = try Self.summary(scene.fixture)

        #expect(summary.now == scene.now)
        #expect(summary.byState[.active] == 9)
        #expect(summary.byState[.retrying] == 1)
        #expect(summary.byState[.needsReauth] == 1)
        #expect(summary.byState[.expired] == 1)
        #expect(summary.total == 12)
        // Cumulative, live only: the lapsed token in every window, the retrying one from 3d; the
        // needs_reauth and expired ones (both past their expiry) in none.
        #expect(StoreSummary.expiryWindows.map(\.label) == ["1d", "3d", "7d", "14d", "30d"])
        #expect(summary.expiring == [3, 4, 6, 7, 8])
        // The earliest live expiry: the lapsed token's, not the earlier needs_reauth or expired one.
        #expect(summary.nextExpiry == scene.lapsed.expiresAt)
        #expect(summary.nextRefresh == scene.now + .seconds(7_200))
    }

    @Test(arguments: TestBackend.all)
    func listsRefreshersSeenWithinADayWithTheirLiveness(_ backend: TestBackend) throws {
        let scene = try Self.scene(backend)
        let summary = try Self.summary(scene.fixture)

        // Most recent first; the one seen a day and a second ago is left out.
        #expect(summary.refreshers == Array(scene.refreshers.prefix(4)))
        #expect(summary.refreshers.map(summary.isLive) == [true, true, false, false])

        // A second on, the one that beat three minutes ago is stale too, and the one seen a day
        // ago is no longer listed.
        scene.fixture.clock.advance(by: .seconds(1))
        let later = try Self.summary(scene.fixture)
        #expect(later.refreshers.map(later.isLive) == [true, false, false])
        #expect(later.refreshers.map(\.owner) == ["a:1:1", "b:2:2", "c:3:3"])
    }

    @Test(arguments: TestBackend.all)
    func prometheusTextHasEveryGaugeWithItsLabelsAndValues(_ backend: TestBackend) throws {
        let scene = try Self.scene(backend)
        let text = try Self.summary(scene.fixture).prometheusText
        let lines = Self.lines(text)

        #expect(
            Self.samples("tokenkeeper_tokens", by: "state", in: lines) == [
                "active": 9, "retrying": 1, "needs_reauth": 1, "expired": 1,
            ]
        )
        #expect(
            Self.samples("tokenkeeper_tokens_expiring", by: "within", in: lines) == [
                "1d": 3, "3d": 4, "7d": 6, "14d": 7, "30d": 8,
            ]
        )
        #expect(
            lines.filter { $0.name == "tokenkeeper_tokens_expiring" }.map { $0.labels["within"] ?? "" } == [
                "1d", "3d", "7d", "14d", "30d",
            ]
        )
        #expect(
            lines.filter { $0.name == "tokenkeeper_next_expiry_timestamp_seconds" } == [
                Line(
                    name: "tokenkeeper_next_expiry_timestamp_seconds",
                    labels: [:],
                    value: Double(scene.lapsed.expiresAt.seconds)
                )
            ]
        )
        #expect(
            lines.filter { $0.name == "tokenkeeper_next_refresh_timestamp_seconds" } == [
                Line(
                    name: "tokenkeeper_next_refresh_timestamp_seconds",
                    labels: [:],
                    value: Double(scene.now.seconds + 7_200)
                )
            ]
        )
        #expect(Self.samples("tokenkeeper_refreshers", by: "liveness", in: lines) == ["live": 2, "stale": 2])

        // One sample per host and kind with a last pass, the latest of its refreshers (the one
        // that never passed has none), never one per process.
        let passes = lines.filter { $0.name == "tokenkeeper_last_pass_timestamp_seconds" }
        var expected: [Line] = []
        for beat in scene.refreshers.prefix(4) {
            guard let at = beat.lastPassAt else { continue }
            let labels = ["host": beat.host, "kind": beat.kind.rawValue]
            if let index = expected.firstIndex(where: { $0.labels == labels }) {
                expected[index].value = max(expected[index].value, Double(at.seconds))
            } else {
                expected.append(
                    Line(name: "tokenkeeper_last_pass_timestamp_seconds", labels: labels, value: Double(at.seconds))
                )
            }
        }
        #expect(passes == expected)
        #expect(passes.allSatisfy { $0.labels["owner"] == nil })
        #expect(passes.last?.labels["host"] == #"odd "host" \ name"#)

        // Every family is declared once as a gauge, and nothing else is in the text.
        let names = Set(lines.map(\.name))
        #expect(
            names == [
                "tokenkeeper_tokens", "tokenkeeper_tokens_expiring", "tokenkeeper_next_expiry_timestamp_seconds",
                "tokenkeeper_next_refresh_timestamp_seconds", "tokenkeeper_refreshers",
                "tokenkeeper_last_pass_timestamp_seconds",
            ]
        )
        for name in names {
            let declared = text.split(separator: "\n").filter { $0 == "# TYPE \(name) gauge" }.count
            #expect(declared == 1, "\(name) declared \(declared) times")
            #expect(text.split(separator: "\n").filter { $0.hasPrefix("# HELP \(name) ") }.count == 1)
        }
        #expect(!text.contains("EAAsummary"))
    }

    @Test(arguments: TestBackend.all)
    func anEmptyStoreHasZerosAndNoNextTimes(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let summary = try Self.summary(fixture)
        #expect(summary.total == 0)
        #expect(summary.expiring == [0, 0, 0, 0, 0])
        #expect(summary.nextExpiry == nil && summary.nextRefresh == nil)
        #expect(summary.refreshers.isEmpty)

        let text = summary.prometheusText
        let lines = Self.lines(text)
        #expect(
            Self.samples("tokenkeeper_tokens", by: "state", in: lines) == [
                "active": 0, "retrying": 0, "needs_reauth": 0, "expired": 0,
            ]
        )
        #expect(Self.samples("tokenkeeper_tokens_expiring", by: "within", in: lines).values.allSatisfy { $0 == 0 })
        #expect(!text.contains("tokenkeeper_next_expiry_timestamp_seconds"))
        #expect(!text.contains("tokenkeeper_next_refresh_timestamp_seconds"))
        #expect(Self.samples("tokenkeeper_refreshers", by: "liveness", in: lines) == ["live": 0, "stale": 0])
        #expect(!lines.contains { $0.name == "tokenkeeper_last_pass_timestamp_seconds" })
    }

    @Test(arguments: TestBackend.all)
    func onlyNeedsReauthAndExpiredTokensHaveNoNextExpiryOrRefresh(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let now = fixture.clock.now
        let reauth = try fixture.inventory.add(
            token: "EAAonlyreauth",
            NewToken(project: "p1", expiresAt: now + .seconds(3_600))
        )
        let expired = try fixture.inventory.add(
            token: "EAAonlyexpired",
            NewToken(project: "p1", expiresAt: now + .seconds(7_200))
        )
        try fixture.underTheSeam("UPDATE tokens SET state = 'needs_reauth' WHERE id = '\(reauth.id)'")
        try fixture.underTheSeam("UPDATE tokens SET state = 'expired' WHERE id = '\(expired.id)'")

        let summary = try Self.summary(fixture)
        #expect(summary.total == 2)
        #expect(summary.expiring == [0, 0, 0, 0, 0])
        #expect(summary.nextExpiry == nil)
        #expect(summary.nextRefresh == nil)
    }

    /// `run-once` every few minutes is a new process each time: the last-pass series stays one
    /// per host and kind, holding the latest pass, however many processes wrote heartbeats.
    @Test(arguments: TestBackend.all)
    func lastPassesAreOnePerHostAndKind(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let now = fixture.clock.now
        for (index, ago) in [300, 600, 900].enumerated() {
            let beat = RefresherHeartbeat(
                owner: "h:\(index):0",
                host: "h",
                pid: index,
                kind: .runOnce,
                version: "1.0",
                startedAt: now - .seconds(Int64(ago) + 10),
                beatAt: now - .seconds(Int64(ago)),
                lastPassAt: now - .seconds(Int64(ago)),
                lastPassOK: true
            )
            try fixture.store.write { try $0.recordHeartbeat(beat, forgetBefore: now - .seconds(7 * Self.day)) }
        }
        let summary = try fixture.store.read { try StoreSummary(reading: $0, now: now) }
        #expect(summary.refreshers.count == 3)
        #expect(summary.lastPasses.count == 1)
        #expect(summary.lastPasses.first?.at == now - .seconds(300))
        let text = summary.prometheusText
        #expect(
            text.contains(
                "tokenkeeper_last_pass_timestamp_seconds{host=\"h\",kind=\"run-once\"} \((now - .seconds(300)).seconds)\n"
            )
        )
        #expect(text.components(separatedBy: "tokenkeeper_last_pass_timestamp_seconds{").count == 2)
    }
}
