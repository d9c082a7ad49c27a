import Foundation
import Prometheus
import Testing
import TokenKeeper
import TokenKeeperServer
import TokenKeeperTesting

/// The order of a scrape's parts, in process with a real store.
@Suite struct MetricsEndpointTests {
    /// A store whose every read first runs `duringRead`, inside the read: what another task
    /// does while a scrape reads the store.
    final class InterleavedStore: TokenStore {
        let inner: any TokenStore
        let duringRead: @Sendable () -> Void
        init(_ inner: any TokenStore, duringRead: @escaping @Sendable () -> Void) {
            self.inner = inner
            self.duringRead = duringRead
        }
        var location: String { inner.location }
        var folder: String? { inner.folder }
        func healthProblem() -> String? { inner.healthProblem() }
        func read<T>(_ body: (any StoreReading) throws -> T) throws -> T {
            try inner.read { reading in
                duringRead()
                return try body(reading)
            }
        }
        func write<T>(bulk: Bool, _ body: (any StoreWriting) throws -> T) throws -> T {
            try inner.write(bulk: bulk, body)
        }
        func mapError(_ error: any Error) -> TokenKeeperError { inner.mapError(error) }
        func installAuditSealer(_ sealer: TokenSealer) { inner.installAuditSealer(sealer) }
    }

    /// A refresh commits before it is counted. Were the counters written after the store's
    /// snapshot, one counted while the store is read would show beside the expiry it replaced
    /// (seen once on PostgreSQL in CI); written before it, it waits for the next scrape.
    @Test(arguments: TestBackend.all)
    func countersAreWrittenBeforeTheStoreIsRead(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        _ = try fixture.inventory.add(token: "EAAmetrics", NewToken(project: "p1"))
        let registry = PrometheusCollectorRegistry()
        let refreshed = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "tokenkeeper",
                metricName: "refresh",
                unitName: "total",
                helpText: "Refreshes."
            ),
            labels: [("result", "refreshed")]
        )
        let store = InterleavedStore(fixture.store) { refreshed.increment() }
        let endpoint = MetricsEndpoint(registry: registry, store: store, perToken: .all) { nil }

        let first = String(decoding: try endpoint.startScrape().text, as: UTF8.self)
        #expect(first.contains(#"tokenkeeper_refresh_total{result="refreshed"} 0"#), "\(first)")
        #expect(first.contains(#"tokenkeeper_tokens{state="active"} 1"#), "\(first)")
        #expect(PrometheusText.samples("tokenkeeper_token_expiry_timestamp_seconds", in: first).count == 1)

        let second = String(decoding: try endpoint.startScrape().text, as: UTF8.self)
        #expect(second.contains(#"tokenkeeper_refresh_total{result="refreshed"} 1"#), "\(second)")
    }
}
