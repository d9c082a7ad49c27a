import Foundation
import SinchProvisioning
import Testing
import TokenKeeperTesting

/// TLS peers are verified: against the system's authorities by default, against a given bundle
/// (`SINCH_CA_BUNDLE`) when one is set. The server is `openssl s_server` with a certificate made
/// for the test.
@Suite struct TLSVerificationTests {
    @Test func aCertificateNoAuthorityVouchesForIsRefused() async throws {
        try await OpenSSLServer.with { server in
            let transport = try CurlTransport(configuration: CurlTransportConfiguration(userAgent: "test"))
            let error = await #expect(throws: TransportError.self) {
                try await transport.send(HTTPRequest(method: .get, url: server.url))
            }
            #expect(error?.kind == .tls)
        }
    }

    @Test func theCABundleIsTrusted() async throws {
        try await OpenSSLServer.with { server in
            let transport = try CurlTransport(
                configuration: CurlTransportConfiguration(userAgent: "test", caBundle: server.certificate)
            )
            let response = try await transport.send(HTTPRequest(method: .get, url: server.url))
            #expect(response.status == 200)
        }
    }

    @Test func aMissingCABundleIsATLSError() async throws {
        try await OpenSSLServer.with { server in
            let transport = try CurlTransport(
                configuration: CurlTransportConfiguration(userAgent: "test", caBundle: server.certificate + ".missing")
            )
            let error = await #expect(throws: TransportError.self) {
                try await transport.send(HTTPRequest(method: .get, url: server.url))
            }
            #expect(error?.kind == .tls)
        }
    }
}

/// `openssl s_server -www` on a free loopback port with a fresh self-signed certificate for
/// 127.0.0.1.
struct OpenSSLServer {
    let directory: TemporaryDirectory
    let port: Int

    var url: String { "https://127.0.0.1:\(port)/" }
    var certificate: String { directory.file("cert.pem") }

    static func with(_ body: (OpenSSLServer) async throws -> Void) async throws {
        let directory = TemporaryDirectory("tokenkeeper-tls")
        try run(
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            directory.file("key.pem"),
            "-out",
            directory.file("cert.pem"),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1"
        )
        let port = try freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "openssl", "s_server", "-accept", "127.0.0.1:\(port)", "-cert", directory.file("cert.pem"),
            "-key", directory.file("key.pem"), "-www", "-quiet",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            // SIGKILL: a child spawned from a test thread may inherit a mask that blocks SIGTERM.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try await waitUntilListening(port)
        try await body(OpenSSLServer(directory: directory, port: port))
    }

    private static func run(_ arguments: String...) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "openssl \(arguments.first ?? "") failed")
    }

    /// A port the kernel just handed out and took back: free unless another process races for it.
    private static func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try #require(bind(socket, $0, length) == 0)
                try #require(getsockname(socket, $0, &length) == 0)
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func waitUntilListening(_ port: Int) async throws {
        try await waitUntil("openssl s_server listening on \(port)", within: .seconds(30)) {
            let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(socket) }
            var address = loopback(port: port)
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
        }
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}
