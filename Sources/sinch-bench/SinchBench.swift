import ArgumentParser
import Foundation
import Logging
import SinchProvisioning

/// Drives refresh calls through the real client at a running `fake-sinch`, for `scripts/bench`.
/// Prints one JSON object: calls, seconds, calls per second, connections opened.
@main
struct SinchBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sinch-bench",
        abstract: "Measure refresh calls per second through SinchClient against fake-sinch."
    )

    @Option(help: "fake-sinch's base URL (also the provisioning URL).")
    var baseURL: String

    @Option(help: "Total refresh calls.")
    var calls = 10_000

    @Option(help: "Calls in flight at once.")
    var concurrency = 1

    @Option(help: "oauth2 or basic.")
    var auth = "oauth2"

    @Option(help: "The access key id fake-sinch accepts.")
    var keyID = "fake-key-id"

    func run() async throws {
        let keySecret = ProcessInfo.processInfo.environment["FAKE_SINCH_KEY_SECRET"] ?? "fake-key-secret"
        let transport = try CurlTransport(configuration: CurlTransportConfiguration(userAgent: "sinch-bench"))
        let token = try await Self.mintToken(baseURL: baseURL, transport: transport)
        let client = SinchClient(
            configuration: SinchConfiguration(
                provisioningURL: baseURL,
                authURL: baseURL + "/oauth2/token",
                credentials: SinchCredentials(keyID: keyID, keySecret: keySecret, source: "sinch-bench"),
                authentication: SinchAuthentication(rawValue: auth) ?? .oauth2
            ),
            transport: transport,
            logger: Logger(label: "sinch-bench", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        // One call first, so the bearer token is cached and a connection is open.
        _ = try await client.refresh(token: token, project: "bench")
        let perWorker = calls / concurrency
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<concurrency {
                let count = perWorker + (worker < calls % concurrency ? 1 : 0)
                group.addTask {
                    // Each call refreshes the original token: it stays valid, as Meta's does.
                    for _ in 0..<count { _ = try await client.refresh(token: token, project: "bench") }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let result: [String: Double] = [
            "calls": Double(calls),
            "seconds": seconds,
            "calls_per_second": Double(calls) / seconds,
            "connections": Double(transport.connectionsOpened),
        ]
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }

    /// A valid long-lived token from fake-sinch's admin API.
    static func mintToken(baseURL: String, transport: CurlTransport) async throws -> String {
        let response = try await transport.send(
            HTTPRequest(
                method: .post,
                url: baseURL + "/_fake/tokens",
                headers: [("Content-Type", "application/json")],
                body: Array("{}".utf8)
            )
        )
        guard let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
            let token = object["token"] as? String
        else { throw ValidationError("fake-sinch at \(baseURL) did not mint a token (HTTP \(response.status))") }
        return token
    }
}
