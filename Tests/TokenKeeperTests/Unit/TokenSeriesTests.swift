import Foundation
import GRDB
import Testing
import TokenKeeperSQLite

@testable import TokenKeeper

/// The per-token series of `/metrics`, read a page at a time from a real database file.
@Suite struct TokenSeriesTests {
    /// Imports `count` tokens; every third one is then marked `needs_reauth` (not live).
    func fixture(tokens count: Int, _ backend: TestBackend) throws -> StoreFixture {
        let fixture = try StoreFixture(backend)
        let lines = (0..<count).map { index in
            #"{"project":"p\#(index % 3)","token":"EAA\#(index)xyzTOKENVALUE","label":"L \#(index)"}"#
        }
        _ = try fixture.importLines(lines.joined(separator: "\n"))
        let ids = try fixture.allTokens().map(\.id).sorted()
        let marked = ids.enumerated().filter({ $0.offset % 3 == 0 }).map { "'\($0.element)'" }
        try fixture.underTheSeam(
            "UPDATE tokens SET state = 'needs_reauth' WHERE id IN (\(marked.joined(separator: ", ")))"
        )
        return fixture
    }

    /// Every page until the end, each read in its own transaction as the endpoint does.
    func pages(_ fixture: StoreFixture, pageSize: Int) throws -> [String] {
        var series = TokenSeries(pageSize: pageSize)
        var pages: [String] = []
        while let page = try fixture.store.read({ try series.next($0) }) {
            pages.append(String(decoding: page, as: UTF8.self))
        }
        return pages
    }

    @Test(arguments: TestBackend.all, [7, 25, 10_000])
    func pagesHoldEveryTokenOnceGroupedByFamily(_ backend: TestBackend, pageSize: Int) throws {
        let fixture = try fixture(tokens: 25, backend)
        let pages = try pages(fixture, pageSize: pageSize)
        // Seven-token pages: 4 of expiry (7+7+7+4) and 3 of refresh (16 live tokens: 7+7+2). At
        // 25, expiry fills a page exactly, then an empty one ends the family.
        #expect(pages.count == [7: 7, 25: 3, 10_000: 2][pageSize])
        let text = pages.joined()
        let lines = text.split(separator: "\n").map(String.init)

        // One HELP/TYPE pair per family, each before all of its samples, expiry first.
        let expiryHelp = try #require(lines.firstIndex { $0.hasPrefix("# HELP tokenkeeper_token_expiry_") })
        let refreshHelp = try #require(lines.firstIndex { $0.hasPrefix("# HELP tokenkeeper_token_refresh_") })
        #expect(lines.filter { $0.hasPrefix("# HELP") }.count == 2)
        #expect(lines.filter { $0.hasPrefix("# TYPE") }.count == 2)
        #expect(expiryHelp == 0)
        #expect(lines[1] == "# TYPE tokenkeeper_token_expiry_timestamp_seconds gauge")
        #expect(lines[refreshHelp + 1] == "# TYPE tokenkeeper_token_refresh_timestamp_seconds gauge")
        #expect(lines[..<refreshHelp].allSatisfy { !$0.hasPrefix("tokenkeeper_token_refresh_") })
        #expect(lines[refreshHelp...].allSatisfy { !$0.hasPrefix("tokenkeeper_token_expiry_") })

        let records = try fixture.allTokens()
        let live = records.filter { $0.state == .active || $0.state == .retrying }
        #expect(records.count == 25 && live.count == 16)
        func sample(_ record: TokenRecord, _ value: UnixTime) -> (String, PrometheusText.Sample) {
            let labels = ["id": record.id, "project": record.projectID, "label": record.label ?? ""]
            return (record.id, PrometheusText.Sample(labels: labels, value: Double(value.seconds)))
        }
        #expect(
            PrometheusText.samples("tokenkeeper_token_expiry_timestamp_seconds", in: text)
                == Dictionary(uniqueKeysWithValues: records.map { sample($0, $0.expiresAt) })
        )
        #expect(
            PrometheusText.samples("tokenkeeper_token_refresh_timestamp_seconds", in: text)
                == Dictionary(uniqueKeysWithValues: live.map { sample($0, $0.refreshAt) })
        )
    }

    @Test func labelValuesAreEscaped() throws {
        let awkward = #"a "b" \c"# + "\nd"
        #expect(TokenSeries.escape(awkward) == #"a \"b\" \\c\nd"#)
        #expect(TokenSeries.escape("plain") == "plain")
        // And they read back whole, as Prometheus would read them.
        let line = #"m{id="x",label=""# + TokenSeries.escape(awkward) + #""} 1"#
        #expect(PrometheusText.samples("m", in: line)["x"]?.labels["label"] == awkward)
    }
}
