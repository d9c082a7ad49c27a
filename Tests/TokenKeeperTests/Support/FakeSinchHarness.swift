import FakeSinch
import Foundation
import Logging
import SinchProvisioning
import Synchronization
import TokenKeeper
import TokenKeeperTesting

#if canImport(Glibc)
import Glibc
#endif

/// A FakeSinch on an ephemeral loopback port, its manual clock, and a libcurl transport to it.
struct FakeSinchHarness: Sendable {
    let sinch: SinchHarness
    /// The fake's clock: FakeSinch reads it for expiry, buckets and statistics.
    let clock: ManualClock
    let transport: CurlTransport
    let configuration: FakeSinchConfiguration

    var fake: FakeSinch { sinch.fake }

    /// Starts a fake, runs `body`, and stops the fake however `body` ends.
    static func with<T: Sendable>(
        configure: (inout FakeSinchConfiguration) -> Void = { _ in },
        timeout: Duration = .seconds(10),
        maxResponseBytes: Int = 1 << 20,
        _ body: (FakeSinchHarness) async throws -> T
    ) async throws -> T {
        let clock = ManualClock(UnixTime(seconds: 1_800_000_000))
        var configuration = FakeSinchConfiguration(clock: clock)
        configure(&configuration)
        var logger = Logger(label: "fake-sinch-tests")
        logger.logLevel = .warning
        return try await SinchHarness.with(configuration, logger: logger) { sinch in
            try await body(
                FakeSinchHarness(
                    sinch: sinch,
                    clock: clock,
                    transport: try sinch.transport(timeout: timeout, maxResponseBytes: maxResponseBytes),
                    configuration: configuration
                )
            )
        }
    }

    /// `Authorization` with the configured access key (or another one).
    func basic(_ keyID: String? = nil, _ keySecret: String? = nil) -> String {
        let pair = "\(keyID ?? configuration.keyID):\(keySecret ?? configuration.keySecret)"
        return "Basic " + Data(pair.utf8).base64EncodedString()
    }

    func send(
        _ method: SinchProvisioning.HTTPRequest.Method,
        _ path: String,
        body: String? = nil,
        authorization: String?,
        contentType: String = "application/json",
        using transport: CurlTransport? = nil
    ) async throws -> HTTPResponse {
        var headers: [(name: String, value: String)] = []
        if let authorization { headers.append((name: "Authorization", value: authorization)) }
        if body != nil { headers.append((name: "Content-Type", value: contentType)) }
        return try await (transport ?? self.transport).send(
            HTTPRequest(method: method, url: fake.baseURL + path, headers: headers, body: Array((body ?? "").utf8))
        )
    }

    /// A Provisioning call with the access key: `longLivedAccessToken` and `wabaDetails` are POSTs,
    /// `enableTemplateAnalytics` a PUT.
    func call(
        _ endpoint: FakeSinchEndpoint,
        project: String = "p1",
        body: String? = nil,
        authorization: String? = nil,
        using transport: CurlTransport? = nil
    ) async throws -> HTTPResponse {
        try await send(
            endpoint == .enableTemplateAnalytics ? .put : .post,
            "/v1/projects/\(project)/whatsapp/\(endpoint.rawValue)",
            body: body,
            authorization: authorization ?? basic(),
            using: transport
        )
    }

    func refresh(_ token: String, project: String = "p1") async throws -> HTTPResponse {
        try await call(.longLivedAccessToken, project: project, body: #"{"facebookToken":"\#(token)"}"#)
    }

    func exchange(code: String, project: String = "p1") async throws -> HTTPResponse {
        try await call(.longLivedAccessToken, project: project, body: #"{"facebookCode":"\#(code)"}"#)
    }

    func wabaDetails(_ token: String, authorization: String? = nil) async throws -> HTTPResponse {
        try await call(.wabaDetails, body: #"{"facebookToken":"\#(token)"}"#, authorization: authorization)
    }

    func oauthToken(
        authorization: String? = nil,
        form: String = "grant_type=client_credentials"
    ) async throws
        -> HTTPResponse
    {
        try await send(
            .post,
            "/oauth2/token",
            body: form,
            authorization: authorization ?? basic(),
            contentType: "application/x-www-form-urlencoded"
        )
    }

    /// A fresh transport, for tests that count connections or need their own timeout.
    func newTransport(timeout: Duration = .seconds(10), maxResponseBytes: Int = 1 << 20) throws -> CurlTransport {
        try sinch.transport(timeout: timeout, maxResponseBytes: maxResponseBytes)
    }
}

/// Bodies FakeSinch answers with, as tests read them.
enum FakeSinchWire {
    struct TokenAnswer: Decodable {
        var longLivedAccessToken: String
    }

    struct PAPIError: Decodable {
        var errorCode: String
        var message: String
        var resolution: String
    }

    struct Problem: Decodable {
        var type: String
        var title: String
        var detail: String
    }

    struct OAuthAnswer: Decodable {
        var access_token: String
        var token_type: String
        var expires_in: Int
        var scope: String
    }

    struct WABAs: Decodable {
        struct WABA: Decodable {
            var id: String
            var name: String?
            var numbers: [Number]
        }

        struct Number: Decodable {
            var id: String
            var displayPhoneNumber: String
            var provisioned: Bool
        }

        var wabas: [WABA]
    }
}

extension HTTPResponse {
    var text: String { String(decoding: body, as: UTF8.self) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: Data(body))
    }

    /// The PAPI `errorCode`, when the body is a PAPI error.
    var errorCode: String? { (try? decode(FakeSinchWire.PAPIError.self))?.errorCode }

    /// The token of a 201 from `longLivedAccessToken`.
    var issuedToken: String? { (try? decode(FakeSinchWire.TokenAnswer.self))?.longLivedAccessToken }

    var isValidJSON: Bool { (try? JSONSerialization.jsonObject(with: Data(body))) != nil }
}

/// One HTTP/1.1 exchange over a plain socket, for the methods the libcurl transport does not send
/// (`DELETE`). Returns the status code; the request closes the connection.
enum RawHTTP {
    static func status(method: String, port: Int, path: String) throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw RawHTTPError() }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw RawHTTPError() }
        let request = Array("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        guard send(socket, request, request.count, 0) == request.count else { throw RawHTTPError() }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(socket, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            answer += buffer[..<count]
        }
        // "HTTP/1.1 204 No Content"
        let statusLine = String(decoding: answer.prefix(while: { $0 != UInt8(ascii: "\r") }), as: UTF8.self)
        guard let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            throw RawHTTPError()
        }
        return status
    }

    struct RawHTTPError: Error {}
}
