import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import TokenKeeper
import WallTime

/// The daemon's `--metrics ADDR` server: `/metrics` in Prometheus text and `/healthz`.
///
/// Counters and the latency histogram live in a swift-prometheus registry fed through
/// swift-metrics. The store-wide gauges (``StoreSummary``) and the per-token series are read
/// from the database at each scrape rather than kept as gauges: a token removed by any process
/// disappears from the next scrape, and the daemon holds no per-token state. The per-token
/// series are, by default, only those of tokens that need attention (`metrics.per_token`); they
/// are streamed a page at a time, so even `all` over a million tokens (~220 MB of text) holds one
/// page, not the whole answer.
package struct MetricsEndpoint: Sendable {
    /// `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (loopback); port 0 picks a free one.
    package struct Address: Sendable, Equatable, CustomStringConvertible {
        package var host: String
        package var port: Int

        package init(parsing text: String) throws {
            let invalid = TokenKeeperError(
                .usage,
                "invalid --metrics address \"\(text)\" (expected HOST:PORT, as in 127.0.0.1:9464)"
            )
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
                (0...65_535).contains(port)
            else { throw invalid }
            var host = String(text[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            if host.isEmpty { host = "127.0.0.1" }
            guard !host.contains(" ") else { throw invalid }
            self.host = host
            self.port = port
        }

        package var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    let registry: PrometheusCollectorRegistry
    let store: any TokenStore
    let clock: any WallClock
    /// `metrics.per_token`.
    let perToken: TokenKeeperConfiguration.PerTokenSeries
    /// Tokens read per page of the per-token series.
    let pageSize: Int
    /// Nil while the scheduler runs and its last pass went through; else what is wrong.
    let schedulerProblem: @Sendable () -> String?

    /// Makes the registry swift-metrics reports to, once per process.
    package static func bootstrapRegistry() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(DescribedMetricsFactory(registry: registry, help: RefreshMetrics.help))
        RefreshMetrics.declare()
        return registry
    }

    package init(
        registry: PrometheusCollectorRegistry,
        store: any TokenStore,
        clock: any WallClock = SystemClock(),
        perToken: TokenKeeperConfiguration.PerTokenSeries = .attention,
        pageSize: Int = 10_000,
        schedulerProblem: @escaping @Sendable () -> String?
    ) {
        precondition(pageSize > 0, "a page holds at least one token")
        self.registry = registry
        self.store = store
        self.clock = clock
        self.perToken = perToken
        self.pageSize = pageSize
        self.schedulerProblem = schedulerProblem
    }

    /// The HTTP server as a service for the daemon's ServiceGroup; it logs the address it bound.
    package func service(at address: Address, logger: Logger) -> some Service {
        let router = Router()
        // Both read SQLite: on a thread of their own, not on the few that resume every task.
        router.get("metrics") { _, _ in
            // The registry, the counts and the first page are read before the answer starts, so a
            // database that cannot be read then is a 500. One that fails on a later page cuts the
            // body short (Prometheus counts the scrape as failed) and is logged here.
            let (first, rest) = try await offCooperativePool { try self.startScrape() }
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(bytes: first))
                    var pages = rest
                    while true {
                        let (page, after): ([UInt8]?, TokenSeries)
                        do {
                            (page, after) = try await offCooperativePool { [pages] in
                                var pages = pages
                                let page = try self.store.read { try pages.next($0) }
                                return (page, pages)
                            }
                        } catch {
                            logger.error("a /metrics scrape failed part way", metadata: ["error": "\(error)"])
                            throw error
                        }
                        guard let page else { break }
                        try await writer.write(ByteBuffer(bytes: page))
                        pages = after
                    }
                    try await writer.finish(nil)
                }
            )
        }
        router.get("healthz") { _, _ in
            let problem = try await offCooperativePool { self.healthProblem() }
            return Response(
                status: problem == nil ? .ok : .serviceUnavailable,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: (problem ?? "ok") + "\n"))
            )
        }
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        let application = Application(
            router: router,
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { channel in
                var bound = address
                bound.port = channel.localAddress?.port ?? address.port
                logger.notice("serving /metrics and /healthz", metadata: ["metrics.address": "http://\(bound)"])
            },
            logger: quiet
        )
        return Server(application: application, address: address)
    }

    /// The application, its failure (an address in use, say) told in the daemon's terms.
    private struct Server<Wrapped: Service>: Service {
        let application: Wrapped
        let address: Address

        func run() async throws {
            do {
                try await application.run()
            } catch {
                throw TokenKeeperError(.usage, "cannot serve --metrics at \(address): \(error)")
            }
        }
    }

    /// Nil while the scheduler runs, its last pass went through and the database answers at its
    /// path; else why not.
    func healthProblem() -> String? {
        schedulerProblem() ?? store.healthProblem()
    }

    /// The scrape's beginning: the registry's series, then the store's gauges and the first page
    /// of the per-token series; `rest` reads the pages after it.
    ///
    /// The counters are written before the store is read: a refresh counted in a scrape commits
    /// before it is counted, so the store's parts of that scrape (read after) show its outcome.
    /// Read the other way round, a refresh committing between the two reads is counted beside
    /// the expiry it replaced.
    package func startScrape() throws -> (text: [UInt8], rest: TokenSeries) {
        var output: [UInt8] = []
        registry.emit(into: &output)
        let now = clock.now
        return try store.read { store in
            output += Array(try StoreSummary(reading: store, now: now).prometheusText.utf8)
            var series = TokenSeries(pageSize: pageSize, selection: perToken, horizon: now + ExpiryCheck.defaultWarn)
            if let page = try series.next(store) {
                output += page
            }
            return (output, series)
        }
    }
}
