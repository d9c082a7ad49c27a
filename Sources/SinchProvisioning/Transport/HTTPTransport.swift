/// One HTTP request as the Sinch client builds it: small, fully in memory.
public struct HTTPRequest: Sendable {
    public enum Method: String, Sendable {
        case get = "GET"
        case post = "POST"
        case put = "PUT"
    }

    public var method: Method
    public var url: String
    /// Header lines as `(name, value)`; names are sent as given.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: Method, url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// A complete HTTP response, body capped by the transport.
public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header values by lower-cased name; a repeated header keeps its last value.
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int, headers: [String: String] = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// Why a request got no HTTP answer. The description never holds request data.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The connect timeout or the total timeout passed.
        case timeout
        /// Name resolution, refused or reset connections, a peer that closed early.
        case connection
        /// The TLS handshake or the peer's certificate failed.
        case tls
        /// The body passed the transport's cap; reading stopped there.
        case responseTooLarge = "response_too_large"
        /// The task waiting for the answer was cancelled.
        case cancelled
        /// Anything else libcurl reports.
        case other
    }

    public var kind: Kind
    /// libcurl's own sentence for the failure (`curl_easy_strerror`), plus its error buffer.
    public var detail: String

    public init(kind: Kind, detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { "\(kind.rawValue): \(detail)" }
}

/// Sends HTTP requests. The Sinch client talks only to this, so tests below the protocol can
/// answer without a socket; everything else goes through ``CurlTransport``.
public protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequest) async throws(TransportError) -> HTTPResponse
}
