import Foundation
import SinchProvisioning
import Testing
import TokenKeeperTesting

/// `fake-sinch`, the process the benchmarks and scripts start: it says where it listens, serves,
/// and exits 0 on SIGTERM.
@Suite struct FakeSinchExecutableTests {
    @Test func printsWhereItListensServesAndStopsOnSIGTERM() async throws {
        let executable = URL(fileURLWithPath: CLI.locateExecutable()).deletingLastPathComponent()
            .appendingPathComponent("fake-sinch").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--port", "0"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        // One JSON line, read byte by byte so nothing after it is waited for.
        var line = Data()
        while true {
            let byte = try output.fileHandleForReading.read(upToCount: 1) ?? Data()
            if byte.isEmpty || byte == Data("\n".utf8) { break }
            line.append(byte)
        }
        let announced = try #require(try JSONSerialization.jsonObject(with: line) as? [String: Any])
        let baseURL = try #require(announced["base_url"] as? String)
        #expect(announced["auth_url"] as? String == baseURL + "/oauth2/token")

        let transport = try CurlTransport(configuration: CurlTransportConfiguration(userAgent: "test"))
        let minted = try await transport.send(
            HTTPRequest(
                method: .post,
                url: baseURL + "/_fake/tokens",
                headers: [("Content-Type", "application/json")],
                body: Array("{}".utf8)
            )
        )
        #expect(minted.status == 200)

        kill(process.processIdentifier, SIGTERM)
        #expect(try await process.exited(within: .seconds(30)))
        #expect(process.terminationStatus == 0)
    }
}
