import Foundation
import GRDB
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle

/// The daemon's `--metrics ADDR` server: `/metrics` in Prometheus text and `/healthz`.
///
/// Counters and the latency histogram live in a swift-prometheus registry fed through
/// swift-metrics. The per-token series are read from the database at each scrape rather than
/// kept as gauges: a token removed by any process disappears from the next scrape, and the daemon
/// holds no per-token state.
public struct MetricsEndpoint: Sendable {
    /// `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (loopback); port 0 picks a free one.
    public struct Address: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(parsing text: String) throws {
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

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    let registry: PrometheusCollectorRegistry
    let store: TokenStore
    /// Nil while the scheduler runs and its last pass went through; else what is wrong.
    let schedulerProblem: @Sendable () -> String?

    /// Makes the registry swift-metrics reports to, once per process.
    public static func bootstrapRegistry() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        RefreshMetrics.declare()
        return registry
    }

    public init(
        registry: PrometheusCollectorRegistry,
        store: TokenStore,
        schedulerProblem: @escaping @Sendable () -> String?
    ) {
        self.registry = registry
        self.store = store
        self.schedulerProblem = schedulerProblem
    }

    /// The HTTP server as a service for the daemon's ServiceGroup; it logs the address it bound.
    public func service(at address: Address, logger: Logger) -> some Service {
        let router = Router()
        // Both read SQLite: on a thread of their own, not on the few that resume every task.
        router.get("metrics") { _, _ in
            let text = try await offCooperativePool { try self.render() }
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: text))
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

    static var tokens: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "tokenkeeper",
            metricName: "tokens",
            unitName: "",
            helpText: "Stored tokens by state."
        )
    }

    /// The whole scrape: the registry's series, then the token gauges read from the database.
    func render() throws -> [UInt8] {
        var output: [UInt8] = []
        try store.read { db in
            var counts = Dictionary(uniqueKeysWithValues: TokenState.allCases.map { ($0, 0) })
            let rows = try Row.fetchCursor(db, sql: "SELECT state, COUNT(*) FROM tokens GROUP BY state")
            while let row = try rows.next() {
                if let state = TokenState(rawValue: row[0]) { counts[state] = row[1] }
            }
            for (state, count) in counts {
                registry.makeGauge(descriptor: Self.tokens, labels: [("state", state.rawValue)]).set(Double(count))
            }
            registry.emit(into: &output)
            try Self.appendTokenSeries(db, into: &output)
        }
        return output
    }

    /// `tokenkeeper_token_expiry_timestamp_seconds` for every token and
    /// `tokenkeeper_token_refresh_timestamp_seconds` (the next scheduled refresh) for live ones.
    static func appendTokenSeries(_ db: Database, into output: inout [UInt8]) throws {
        let sql = "SELECT id, project_id, label, state, expires_at, refresh_at FROM tokens ORDER BY id"
        var refresh: [UInt8] = []
        output += Array(
            """
            # HELP tokenkeeper_token_expiry_timestamp_seconds When each stored token expires (Unix time).
            # TYPE tokenkeeper_token_expiry_timestamp_seconds gauge

            """.utf8
        )
        refresh += Array(
            """
            # HELP tokenkeeper_token_refresh_timestamp_seconds When each live token is next refreshed (Unix time).
            # TYPE tokenkeeper_token_refresh_timestamp_seconds gauge

            """.utf8
        )
        let rows = try Row.fetchCursor(db, sql: sql)
        while let row = try rows.next() {
            let id: String = row[0]
            let project: String = row[1]
            let label: String? = row[2]
            let state: String = row[3]
            let labels = "{id=\"\(escape(id))\",project=\"\(escape(project))\",label=\"\(escape(label ?? ""))\"}"
            output += Array("tokenkeeper_token_expiry_timestamp_seconds\(labels) \(row[4] as Int64)\n".utf8)
            if state == TokenState.active.rawValue || state == TokenState.retrying.rawValue {
                refresh += Array("tokenkeeper_token_refresh_timestamp_seconds\(labels) \(row[5] as Int64)\n".utf8)
            }
        }
        output += refresh
    }

    /// A label value in the text format: backslash, double quote and newline escaped.
    static func escape(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return value }
        return value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
