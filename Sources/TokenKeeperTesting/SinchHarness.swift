import FakeSinch
import Foundation
import Logging
import SinchProvisioning
import TokenKeeper
import WallTime

/// FakeSinch on an ephemeral loopback port, and real clients (libcurl) pointed at it.
package struct SinchHarness: Sendable {
    package let fake: FakeSinch
    /// Everything the clients made here logged, at trace level.
    package let logs = RecordingLogHandler.Lines()
    package let configuration: FakeSinchConfiguration

    /// Starts FakeSinch on `host` (loopback unless a test's network namespaces must reach it),
    /// runs `body`, and stops FakeSinch however `body` ends.
    package static func with<T: Sendable>(
        _ configuration: FakeSinchConfiguration = FakeSinchConfiguration(),
        host: String = "127.0.0.1",
        logger: Logger = Logger(label: "fake-sinch"),
        _ body: (SinchHarness) async throws -> T
    ) async throws -> T {
        let harness = SinchHarness(
            fake: FakeSinch(configuration: configuration, logger: logger),
            configuration: configuration
        )
        _ = try await harness.fake.start(host: host)
        do {
            let result = try await body(harness)
            await harness.fake.stop()
            return result
        } catch {
            await harness.fake.stop()
            throw error
        }
    }

    /// ``with(_:host:logger:_:)`` for a real-time scene: several processes racing the wall
    /// clock (daemons, lapsing lifetimes, kills). At most two such scenes run at once in a test
    /// process, so they do not starve each other of the machine's cores and miss their deadlines
    /// (on 2 cores, eight at once made tokens die in the fifty-token daemon proof). The wait for
    /// a turn counts toward a test's time limit: give these a generous one.
    package static func scene<T: Sendable>(
        _ configuration: FakeSinchConfiguration = FakeSinchConfiguration(),
        host: String = "127.0.0.1",
        _ body: (SinchHarness) async throws -> T
    ) async throws -> T {
        try await scenes.withSlot { try await with(configuration, host: host, body) }
    }

    private static let scenes = CallSlots(2)

    package var credentials: SinchCredentials {
        SinchCredentials(
            keyID: configuration.keyID,
            keySecret: configuration.keySecret,
            source: "the test's credentials"
        )
    }

    /// A libcurl transport with test-sized limits.
    package func transport(
        timeout: Duration = .seconds(10),
        maxResponseBytes: Int = 1 << 20
    ) throws -> CurlTransport {
        try CurlTransport(
            configuration: CurlTransportConfiguration(
                connectTimeout: .seconds(5),
                timeout: timeout,
                maxResponseBytes: maxResponseBytes,
                userAgent: "tokenkeeper-tests"
            )
        )
    }

    /// A client of FakeSinch over `transport` (a new one by default).
    package func client(
        authentication: SinchAuthentication = .oauth2,
        transport: CurlTransport? = nil,
        credentials: SinchCredentials? = nil,
        clock: (any WallClock)? = nil
    ) throws -> SinchClient {
        SinchClient(
            configuration: SinchConfiguration(
                provisioningURL: fake.baseURL,
                authURL: fake.authURL,
                credentials: credentials ?? self.credentials,
                authentication: authentication
            ),
            transport: try transport ?? self.transport(),
            logger: RecordingLogHandler.logger(into: logs),
            clock: clock ?? configuration.clock
        )
    }
}
