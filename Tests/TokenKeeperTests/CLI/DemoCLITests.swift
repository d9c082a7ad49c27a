import Foundation
import Testing
import TokenKeeperTesting

/// `tokenkeeper demo` as CI runs it: the built binary, not on a terminal, for 15 seconds.
@Suite struct DemoCLITests {
    @Test(.timeLimit(.minutes(2)))
    func fifteenSecondDemoRefreshesShowsReauthAndThrottlingVerifiesTheAuditAndLeavesNothingBehind() async throws {
        var sandbox = try await CLISandbox(initialized: false)
        // The demo's own temp folder goes inside the test's, where the test can look for leftovers.
        sandbox.cli.environment["TMPDIR"] = sandbox.directory.path
        // The time limit is the hang guard: how long start-up takes depends on the machine's load.
        let result = try await sandbox.cli.run(["demo", "--duration", "15s"])
        let output = result.stdout

        #expect(result.status == 0, "demo exited \(result.status): \(result.stderr)\n\(output)")
        // Plain lines, no cursor controls: stdout is a pipe here.
        #expect(!output.contains("\u{1B}["))

        let summary = try #require(
            output.firstMatch(
                of:
                    /demo: refreshes (\d+), failed attempts (\d+), needs_reauth (\d+), recovered (\d+); audit chain intact; ran \d+s/
            ),
            "no final summary in:\n\(output)"
        )
        #expect(Int(summary.1)! >= 5, "too few refreshes: \(summary.0)")
        #expect(Int(summary.2)! >= 2, "the revoked and the throttled tokens each failed: \(summary.0)")
        #expect(Int(summary.3)! == 1, "the revoked token, and only it, needs a person: \(summary.0)")
        #expect(Int(summary.4)! >= 1, "a throttled token recovered: \(summary.0)")

        // Each injection is narrated, and what follows from it is seen happening.
        #expect(output.contains("injected: Meta revokes tk_"))
        #expect(output.contains("needs_reauth: Meta refused the token (invalid_facebook_token)"))
        #expect(output.contains("injected: Sinch throttles project p-"))
        #expect(output.contains("retrying: Sinch throttled the refresh (HTTP 429"))
        #expect(output.contains("recovered: active again, refreshed after"))
        // The live view's plain status lines.
        #expect(output.contains(/\[\+\d+s\] active \d+, retrying \d+, needs_reauth \d+, expired \d+; refreshes \d+/))

        // The ending: list, audit, audit verify.
        #expect(output.contains(/ID +PROJECT +LABEL +STATE +EXPIRES/))
        #expect(output.contains(/tk_[0-9a-f]+ +p-\w+ +\w+ \d\d +needs_reauth/))
        #expect(output.contains(/\d+  \S+Z  refreshed  tk_/))
        #expect(
            output.contains(/audit chain intact: \d+ events, head [0-9a-f]{64}\nseal verified with the master key\n/)
        )

        // FakeSinch's tokens start with EAAG: none is printed anywhere.
        #expect(!result.everything.contains("EAAG"))

        // Nothing is left: the folder is gone and FakeSinch's port no longer answers. (The run
        // also returned only once every holder of its output pipes had exited.)
        let folder = try #require(output.firstMatch(of: /folder  (\S+):/)?.1)
        #expect(folder.hasPrefix(sandbox.directory.path.replacingOccurrences(of: "//", with: "/")))
        #expect(!FileManager.default.fileExists(atPath: String(folder)))
        #expect(output.contains("removed \(folder)"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: sandbox.directory.path)
        #expect(leftovers.filter { $0.hasPrefix("tokenkeeper-demo") }.isEmpty, "left behind: \(leftovers)")
        let port = try #require(output.firstMatch(of: /http:\/\/127\.0\.0\.1:(\d+)/).flatMap { Int($0.1) })
        #expect(!Self.acceptsConnections(port: port), "port \(port) still accepts connections")
    }

    @Test(.timeLimit(.minutes(2)))
    func ctrlCEndsTheDemoEarlyWithItsEndingAndLeavesNothingBehind() async throws {
        var sandbox = try await CLISandbox(initialized: false)
        sandbox.cli.environment["TMPDIR"] = sandbox.directory.path
        let outputPath = sandbox.directory.file("demo.out")
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: sandbox.cli.executable)
        process.arguments = ["demo", "--duration", "90s"]
        process.environment = sandbox.cli.environment
        process.standardOutput = FileHandle(forWritingAtPath: outputPath)
        process.standardError = FileHandle(forWritingAtPath: outputPath)
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        func output() -> String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

        // Interrupt once it is under way: the revocation is narrated and a token was refreshed.
        func underWay() -> Bool {
            output().contains("injected: Meta revokes") && output().contains(/refreshes [1-9]/)
        }
        do {
            try await waitUntil("the demo to get going", within: .seconds(60)) { underWay() }
        } catch {
            Issue.record("the demo never got going:\n\(output())")
            throw error
        }
        kill(process.processIdentifier, SIGINT)
        #expect(try await process.exited(within: .seconds(30)), "the demo did not end on Ctrl-C")
        #expect(process.terminationStatus == 0, "\(output())")
        let text = output()
        #expect(text.contains(/audit chain intact; interrupted after \d+s/), "\(text)")
        #expect(text.contains(/audit chain intact: \d+ events/))
        let folder = try #require(text.firstMatch(of: /folder  (\S+):/)?.1)
        #expect(!FileManager.default.fileExists(atPath: String(folder)))
        let port = try #require(text.firstMatch(of: /http:\/\/127\.0\.0\.1:(\d+)/).flatMap { Int($0.1) })
        #expect(!Self.acceptsConnections(port: port), "port \(port) still accepts connections")
    }

    @Test func refusesABadDuration() async throws {
        let sandbox = try await CLISandbox(initialized: false)
        let result = try await sandbox.cli.run(["demo", "--duration", "soon"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--duration"))
    }

    /// Whether something listens on 127.0.0.1:`port` (a refused connect answers at once).
    static func acceptsConnections(port: Int) -> Bool {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return false }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
