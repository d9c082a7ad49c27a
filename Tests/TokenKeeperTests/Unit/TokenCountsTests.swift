import Foundation
import GRDB
import SinchProvisioning
import Testing
import TokenKeeper
import TokenKeeperSQLite
import TokenKeeperTesting

/// Counts by state and expiry (`check`, `status`, `/metrics`) against the tokens themselves.
/// SQLite answers them from `token_counts`, slices of 4,096 seconds kept by its inserts and triggers
/// (<doc:Architecture#Counting-without-reading-every-token>); PostgreSQL from its indexes.
@Suite struct TokenCountsTests {
    static let slice: Int64 = 4_096

    /// Every way a count can be asked, against a count of the rows read one by one.
    func expectCountsMatchTheRows(_ fixture: StoreFixture, at times: [Int64], in store: (any TokenStore)? = nil) throws
    {
        let tokens = try fixture.allTokens()
        let bounds: [Int64?] = [nil] + times
        let stateSets: [(TokenStates, (TokenState) -> Bool)] = [
            (.all, { _ in true }),
            (.live, { TokenState.live.contains($0) }),
            (.attention, { TokenState.attention.contains($0) }),
            (.only(.needsReauth), { $0 == .needsReauth }),
            (.only(.expired), { $0 == .expired }),
            (.only(.retrying), { $0 == .retrying }),
        ]
        try (store ?? fixture.store).read { store in
            for (states, member) in stateSets {
                for after in bounds {
                    for upTo in bounds {
                        let expected = tokens.filter { token in
                            member(token.state) && after.map { token.expiresAt.seconds > $0 } ?? true
                                && upTo.map { token.expiresAt.seconds <= $0 } ?? true
                        }.count
                        let counted = try store.countTokens(
                            states,
                            expiringAfter: after.map(UnixTime.init(seconds:)),
                            upTo: upTo.map(UnixTime.init(seconds:))
                        )
                        #expect(
                            counted == expected,
                            "\(states) in (\(after.map(String.init) ?? "-∞"), \(upTo.map(String.init) ?? "∞")]"
                        )
                    }
                }
            }
            let byState = Dictionary(grouping: tokens, by: \.state).mapValues(\.count)
            #expect(try store.countTokensByState().filter { $0.value != 0 } == byState)
        }
    }

    /// SQLite's slices hold exactly what a GROUP BY over the rows finds, and no empty slice.
    func expectSlicesMatchTheRows(_ store: SQLiteStore) throws {
        let (kept, counted) = try store.database { db in
            (
                try Row.fetchAll(db, sql: "SELECT state, slice, tokens FROM token_counts ORDER BY 1, 2"),
                try Row.fetchAll(
                    db,
                    sql:
                        "SELECT state, expires_at >> 12 AS slice, COUNT(*) AS tokens FROM tokens GROUP BY 1, 2 ORDER BY 1, 2"
                )
            )
        }
        #expect(kept == counted)
    }

    /// Tokens around slice edges (a second before, on, and after), in every state.
    func addTokensAroundSliceEdges(_ fixture: StoreFixture) throws -> [Int64] {
        let now = fixture.clock.now.seconds
        let firstEdge = (now / Self.slice + 1) * Self.slice
        var times: [Int64] = []
        for (index, edge) in [firstEdge, firstEdge + Self.slice, firstEdge + 5 * Self.slice].enumerated() {
            for offset: Int64 in [-1, 0, 1] {
                times.append(edge + offset)
                for state in TokenState.allCases {
                    let record = try fixture.inventory.add(
                        token: "EAA-\(index)-\(offset)-\(state.rawValue)",
                        NewToken(project: "p", expiresAt: UnixTime(seconds: edge + offset))
                    )
                    if state != .active {
                        try fixture.underTheSeam(
                            "UPDATE tokens SET state = '\(state.rawValue)' WHERE id = '\(record.id)'"
                        )
                    }
                }
            }
        }
        // One more range end: inside a slice, away from its edges.
        return times + [firstEdge + 2 * Self.slice + 100]
    }

    @Test func wholeSlicesAreThoseInsideTheRange() {
        typealias C = SQLiteTokenCounts
        // (after, upTo]: a slice is whole when all its seconds are inside.
        #expect(C.wholeSlices(after: 4_095, upTo: 8_191) == 1...1)
        #expect(C.wholeSlices(after: 4_096, upTo: 8_191) == nil)
        #expect(C.wholeSlices(after: 4_095, upTo: 8_190) == nil)
        #expect(C.wholeSlices(after: 0, upTo: 5 * 4_096) == 1...4)
        #expect(C.wholeSlices(after: -1, upTo: 4_095) == 0...0)
        #expect(C.wholeSlices(after: -4_097, upTo: -1) == -1...(-1))
        #expect(C.wholeSlices(after: nil, upTo: 4_095) == (Int64.min >> 12)...0)
        #expect(C.wholeSlices(after: 4_095, upTo: nil) == 1...(Int64.max >> 12))
    }

    @Test(arguments: TestBackend.all)
    func countsAtSliceEdgesMatchTheRows(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let times = try addTokensAroundSliceEdges(fixture)
        // And the ends of time, where a slice has no next one.
        try expectCountsMatchTheRows(fixture, at: times + [.min, .min + 1, .max - 1, .max])
        if backend == .sqlite { try expectSlicesMatchTheRows(fixture.sqlite) }
    }

    @Test func theSlicesFollowEveryWriteOfATokenRow() async throws {
        let h = try RefreshEngineTests.Harness(.sqlite)
        let fixture = h.fixture
        let times = try addTokensAroundSliceEdges(fixture)
        // Imported (50 days out and more: not due, so no refresh moves them), refreshed (expiry
        // moves 60 days on), retrying, needing a person, replaced, removed.
        let lines = (0..<20).map { index in
            let expiry = fixture.clock.now + .seconds(50 * 86_400 + Int64(index) * 3_000)
            return #"{"token":"EAA-import-\#(index)","project":"p2","expires_at":"\#(RFC3339.format(expiry))"}"#
        }
        _ = try fixture.importLines(lines.joined(separator: "\n") + "\n")
        let due = try (0..<6).map { _ in try h.addDue("p3") }
        h.exchange.fail("p3", with: SinchError(.transient, status: 503, code: "unavailable", message: "busy"))
        _ = try await h.engine.runOnce()
        h.exchange.fail("p3", with: nil)
        fixture.clock.advance(by: .seconds(3_600))
        _ = try await h.engine.runOnce()
        #expect(try due.allSatisfy { try h.record($0).lastRefreshedAt != nil })
        try fixture.underTheSeam("UPDATE tokens SET state = 'needs_reauth' WHERE id = '\(due[0])'")
        // Replaced: a needs_reauth token given a new value and expiry, active again.
        _ = try fixture.inventory.replace(
            id: due[0],
            token: "EAA-replacement",
            NewToken(project: "p3", expiresAt: fixture.clock.now + .seconds(20 * 86_400))
        )
        try fixture.inventory.remove(id: due[1])
        for token in try fixture.allTokens().prefix(5) { try fixture.inventory.remove(id: token.id) }

        try expectSlicesMatchTheRows(fixture.sqlite)
        try expectCountsMatchTheRows(fixture, at: times + [fixture.clock.now.seconds + 60 * 86_400])
    }

    @Test func aStoreFromBeforeTheSlicesGetsThemFilledOnOpen() throws {
        let fixture = try StoreFixture()
        let times = try addTokensAroundSliceEdges(fixture)
        // The store as version 4 left it: no slices, no triggers, the migration not applied.
        try fixture.underTheSeam(
            """
            DROP TRIGGER token_counts_delete; DROP TRIGGER token_counts_update;
            DROP TABLE token_counts; DELETE FROM grdb_migrations WHERE identifier = 'v5 token counts';
            """
        )
        let reopened = try SQLiteStore.open(at: fixture.databasePath)
        try expectSlicesMatchTheRows(reopened)
        try expectCountsMatchTheRows(fixture, at: times, in: reopened)
    }
}
