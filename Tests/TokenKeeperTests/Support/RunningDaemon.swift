import Foundation
import SinchProvisioning
import TokenKeeperTesting

/// A running `tokenkeeper daemon --metrics 127.0.0.1:0` and the base URL it logged.
struct RunningDaemon {
    let process: Process
    let url: String
    let log: String

    /// `GET url` over `transport`: the status and the body as text.
    static func get(_ url: String, with transport: CurlTransport) async throws -> (status: Int, body: String) {
        let response = try await transport.send(HTTPRequest(method: .get, url: url))
        return (response.status, String(decoding: response.body, as: UTF8.self))
    }

    /// `/healthz`'s status and body.
    func health(with transport: CurlTransport) async throws -> (status: Int, body: String) {
        try await Self.get(url + "/healthz", with: transport)
    }
}

extension CLISandbox {
    /// Starts a daemon serving /metrics on a free loopback port, its JSON log in `log` (a file
    /// in the sandbox by default); returns once it logged the address.
    func startDaemon(log name: String = "daemon.log") async throws -> RunningDaemon {
        let log = directory.file(name)
        let process = try spawn(["daemon", "--metrics", "127.0.0.1:0"], stderrFile: log)
        var url: String?
        do {
            try await waitUntil("the daemon to log its metrics address", within: .seconds(30)) {
                let lines = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                url =
                    lines.split(separator: "\n").lazy
                    .compactMap { try? CLIJSON.parse(String($0))["metrics.address"]?.string }.first
                return url != nil
            }
        } catch {
            kill(process.processIdentifier, SIGKILL)
            throw error
        }
        return RunningDaemon(process: process, url: url!, log: log)
    }

    /// Runs `body` beside a daemon serving metrics, then stops the daemon with SIGTERM (SIGKILL
    /// when `body` throws or the daemon outlives 30 s); returns it ended, for its status and log.
    @discardableResult
    func withDaemon(_ body: (RunningDaemon) async throws -> Void) async throws -> RunningDaemon {
        let daemon = try await startDaemon()
        defer { if daemon.process.isRunning { kill(daemon.process.processIdentifier, SIGKILL) } }
        try await body(daemon)
        try await daemon.process.terminateGracefully(within: .seconds(30))
        return daemon
    }
}
