import CCurl
import Synchronization

/// Settings of ``CurlTransport``; the defaults suit the Sinch APIs.
public struct CurlTransportConfiguration: Sendable {
    /// Time allowed to open a connection (TCP and TLS).
    public var connectTimeout: Duration
    /// Time allowed for a whole request, connect included (`http.timeout`).
    public var timeout: Duration
    /// Largest body read from a response; a longer one fails with `.responseTooLarge`.
    public var maxResponseBytes: Int
    /// Sent as `User-Agent`.
    public var userAgent: String
    /// A PEM file of trusted certificate authorities (`SINCH_CA_BUNDLE`); nil keeps the system's.
    public var caBundle: String?
    /// Idle connections kept open for reuse.
    public var maxIdleConnections: Int

    public init(
        connectTimeout: Duration = .seconds(10),
        timeout: Duration = .seconds(30),
        maxResponseBytes: Int = 1 << 20,
        userAgent: String,
        caBundle: String? = nil,
        maxIdleConnections: Int = 64
    ) {
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.maxResponseBytes = maxResponseBytes
        self.userAgent = userAgent
        self.caBundle = caBundle
        self.maxIdleConnections = maxIdleConnections
    }
}

/// The package's one HTTP client: libcurl's multi interface driven by one dedicated thread.
///
/// Any number of requests may be in flight; they share the multi handle's connection cache, so
/// connections are kept alive and reused. TLS peers are verified, the usual proxy variables
/// (`https_proxy`, `no_proxy`, ...) are honoured by libcurl, only `http` and `https` are spoken,
/// and a response body is read up to ``CurlTransportConfiguration/maxResponseBytes``.
/// Cancelling the awaiting task abandons its transfer.
public final class CurlTransport: HTTPTransport {
    private let loop: CurlMultiLoop

    public init(configuration: CurlTransportConfiguration) throws(TransportError) {
        loop = try CurlMultiLoop(configuration: configuration)
    }

    deinit {
        loop.stop()
    }

    /// Connections opened so far; the rest of the requests reused one.
    public var connectionsOpened: Int { loop.connectionsOpened.load(ordering: .relaxed) }

    public func send(_ request: HTTPRequest) async throws(TransportError) -> HTTPResponse {
        let id = loop.newRequestID()
        let loop = self.loop
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    loop.submit(CurlMultiLoop.Submission(id: id, request: request, continuation: continuation))
                }
            } onCancel: {
                loop.cancel(id)
            }
        } catch let error as TransportError {
            throw error
        } catch {
            throw TransportError(kind: .cancelled, detail: "the request was cancelled")
        }
    }
}
