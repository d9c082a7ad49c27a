import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A fake of Sinch's Provisioning API (the WhatsApp token calls) and its OAuth2 token endpoint,
/// served over real HTTP/1.1 on loopback.
///
/// Tests, benchmarks and demos point the Sinch client at ``baseURL`` and ``authURL``, mint codes
/// and tokens with ``issueCode(lineage:)`` and ``issueToken(lineage:lifetime:)``, make the API
/// misbehave with ``inject(_:)``, and read what happened with ``stats()``. The same controls are
/// served under `/_fake/` (see `AdminAPI`) for callers in another process.
///
/// ```swift
/// let fake = FakeSinch()
/// try await fake.start()
/// let code = fake.issueCode()  // the client exchanges it at fake.baseURL
/// fake.inject(FakeSinchFaultRule(.error(status: 500, code: "internal_error"), count: 1))
/// // ...
/// await fake.stop()
/// ```
public final class FakeSinch: Sendable {
    private let core: FakeSinchCore
    private let logger: Logger
    private let lifecycle = Mutex(Lifecycle())

    private struct Lifecycle {
        var run: ServerRun?
        var group: ServiceGroup?
        var task: Task<Void, Never>?
        var port: Int?
        var host = "127.0.0.1"
    }

    /// Errors of ``start(host:port:)``.
    public struct StartError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(
        configuration: FakeSinchConfiguration = FakeSinchConfiguration(),
        logger: Logger = Logger(label: "fake-sinch")
    ) {
        core = FakeSinchCore(configuration: configuration)
        self.logger = logger
    }

    // MARK: Serving

    /// Binds and starts serving in the background; returns the port once listening. Port 0 picks a free one.
    @discardableResult
    public func start(host: String = "127.0.0.1", port: Int = 0) async throws -> Int {
        let run = ServerRun()
        let core = core
        let listening = ListeningSignal()
        let application = Application(
            responder: FakeSinchResponder(core: core, run: run),
            server: .http1(configuration: .init(additionalChannelHandlers: [ConnectionCountingHandler(core: core)])),
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                listening.resolve(.success(channel.localAddress?.port ?? port))
            },
            logger: logger
        )
        let group = ServiceGroup(services: [application], logger: logger)
        let alreadyRunning = lifecycle.withLock { lifecycle -> Bool in
            guard lifecycle.run == nil else { return true }
            lifecycle.run = run
            lifecycle.group = group
            lifecycle.host = host
            lifecycle.task = Task {
                do {
                    try await group.run()
                    listening.resolve(.failure(StartError(description: "the server stopped before listening")))
                } catch {
                    listening.resolve(.failure(error))
                }
            }
            return false
        }
        guard !alreadyRunning else { throw StartError(description: "FakeSinch is already running") }
        do {
            let boundPort = try await listening.wait()
            lifecycle.withLock { $0.port = boundPort }
            logger.debug("FakeSinch listening", metadata: ["fake_sinch.port": "\(boundPort)"])
            return boundPort
        } catch {
            await stop()
            throw error
        }
    }

    /// Stops serving and waits until the server is down. Hanging and slow requests end at once.
    /// Safe to call more than once.
    public func stop() async {
        let (run, group, task) = lifecycle.withLock { lifecycle in
            defer { lifecycle = Lifecycle() }
            return (lifecycle.run, lifecycle.group, lifecycle.task)
        }
        run?.stop()
        await group?.triggerGracefulShutdown()
        await task?.value
    }

    /// The port being served, or nil when not running.
    public var port: Int? { lifecycle.withLock { $0.port } }

    /// `http://HOST:PORT`: what the client uses as its Provisioning URL.
    public var baseURL: String {
        let (host, port) = lifecycle.withLock { ($0.host, $0.port) }
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "http://\(shownHost):\(port ?? 0)"
    }

    /// ``baseURL`` + `/oauth2/token`: what the client uses as its OAuth2 URL.
    public var authURL: String { baseURL + "/oauth2/token" }

    // MARK: Tokens and codes

    /// A single-use `facebookCode`, as Embedded Signup hands out; nil `lineage` starts a new one.
    public func issueCode(lineage: String? = nil) -> String {
        core.issueCode(lineage: lineage).code
    }

    /// A valid long-lived token minted directly, expiring after `lifetime` (default: the configured one).
    public func issueToken(lineage: String? = nil, lifetime: Duration? = nil) -> String {
        core.issueToken(lineage: lineage, lifetime: lifetime).token
    }

    /// Makes `token` invalid (`invalid_facebook_token`), as Meta does when a token dies early.
    public func revoke(token: String) {
        core.revoke(token: token)
    }

    /// Makes every token of `lineage`, and every later refresh or code exchange in it, invalid.
    public func revoke(lineage: String) {
        core.revoke(lineage: lineage)
    }

    /// True when `token` is known, not revoked, and not expired at `now()`.
    public func isValid(_ token: String) -> Bool {
        core.isValid(token)
    }

    public func lineage(of token: String) -> String? {
        core.lineage(of: token)
    }

    /// When `token` expires, in Unix seconds.
    public func expiry(of token: String) -> Double? {
        core.expiry(of: token)
    }

    // MARK: Faults and statistics

    /// Adds a fault rule after the existing ones.
    public func inject(_ rule: FakeSinchFaultRule) {
        core.inject(rule)
    }

    public func clearFaults() {
        core.clearFaults()
    }

    public func stats() -> FakeSinchStats {
        core.stats()
    }

    /// Zeroes the statistics; requests still running count toward the next ``FakeSinchStats/maxInFlight``.
    public func resetStats() {
        core.resetStats()
    }
}

/// Resolves `start` once: with the port when the server listens, or with the error that ended it.
private final class ListeningSignal: Sendable {
    private enum State {
        case waiting(CheckedContinuation<Int, any Error>?)
        case resolved(Result<Int, any Error>)
    }

    private let state = Mutex(State.waiting(nil))

    func resolve(_ result: Result<Int, any Error>) {
        let continuation = state.withLock { state -> CheckedContinuation<Int, any Error>? in
            guard case .waiting(let continuation) = state else { return nil }
            state = .resolved(result)
            return continuation
        }
        continuation?.resume(with: result)
    }

    func wait() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            let resolved = state.withLock { state -> Result<Int, any Error>? in
                switch state {
                case .waiting:
                    state = .waiting(continuation)
                    return nil
                case .resolved(let result):
                    return result
                }
            }
            if let resolved { continuation.resume(with: resolved) }
        }
    }
}
