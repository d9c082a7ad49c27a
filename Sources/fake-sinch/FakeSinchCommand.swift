import ArgumentParser
import FakeSinch
import Foundation
import Logging
import TokenKeeper

/// `fake-sinch`: serves FakeSinch until SIGTERM or SIGINT, for demos and benchmarks in other processes.
@main
struct FakeSinchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fake-sinch",
        abstract: "Serve a fake of Sinch's Provisioning API and OAuth2 token endpoint on loopback.",
        discussion: """
            Prints one line of JSON once listening: {"port":N,"base_url":"http://...","auth_url":"http://.../oauth2/token"}. \
            Control it over HTTP under /_fake/ (codes, tokens, revoke, validate, faults, stats).
            """
    )

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free one.")
    var port = 0

    @Option(name: .customLong("key-id"), help: "Access key id clients must present.")
    var keyID = "fake-key-id"

    @Option(help: "Access key secret clients must present (or FAKE_SINCH_KEY_SECRET).")
    var keySecret: String?

    @Option(help: "Lifetime of each long-lived token, in seconds.")
    var tokenLifetime: Double = 60 * 24 * 3600

    @Option(help: "Lifetime of each OAuth2 bearer token, in seconds.")
    var bearerLifetime: Double = 3600

    @Flag(help: "Serve /oauth2/token without its token bucket (30, refilling 10/s).")
    var noOauthRateLimit = false

    @Option(help: "Log level on stderr (trace, debug, info, notice, warning, error, critical).")
    var logLevel: Logger.Level = .warning

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard tokenLifetime > 0, bearerLifetime > 0 else { throw ValidationError("lifetimes must be positive") }
    }

    func run() async throws {
        var logger = Logger(label: "fake-sinch")
        logger.logLevel = logLevel
        let fake = FakeSinch(configuration: fakeConfiguration(), logger: logger)
        // Caught before listening, so a signal sent right after the JSON line is not lost.
        let signals = try TerminationSignals()
        let port = try await fake.start(host: host, port: port)
        // Written straight to the descriptor: nothing sits in a buffer while a supervisor waits for it.
        FileHandle.standardOutput.write(Data((Self.announcement(port: port, baseURL: fake.baseURL) + "\n").utf8))
        let signal = await signals.next()
        logger.info("Stopping", metadata: ["signal": "\(signal)"])
        await fake.stop()
    }

    func fakeConfiguration() -> FakeSinchConfiguration {
        FakeSinchConfiguration(
            keyID: keyID,
            keySecret: keySecret ?? ProcessInfo.processInfo.environment["FAKE_SINCH_KEY_SECRET"] ?? "fake-key-secret",
            tokenLifetime: .milliseconds(Int64(tokenLifetime * 1000)),
            bearerLifetime: .milliseconds(Int64(bearerLifetime * 1000)),
            oauthRateLimit: !noOauthRateLimit
        )
    }

    /// The one JSON line a supervising process reads to find the fake.
    static func announcement(port: Int, baseURL: String) -> String {
        // The URLs hold only an address and digits: nothing to escape.
        "{\"port\":\(port),\"base_url\":\"\(baseURL)\",\"auth_url\":\"\(baseURL)/oauth2/token\"}"
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
