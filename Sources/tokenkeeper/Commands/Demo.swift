import ArgumentParser
import Foundation
import Logging
import TokenKeeper
import TokenKeeperDemo

extension TokenKeeperCommand {
    struct DemoCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "demo",
            abstract: "A self-contained sandbox: embedded fake Sinch, short lifetimes, the real scheduler.",
            discussion: """
                Runs in a new temporary folder with its own database, master key and an in-process \
                FakeSinch on 127.0.0.1; reads no configuration and calls no real Sinch. A token is \
                revoked and a project throttled along the way. Ends after --duration or on Ctrl-C with \
                list, the last audit events and audit verify; exit 0 when a refresh went through and the \
                audit chain verifies.
                """
        )

        @Option(help: "How long to run (a duration: 90s, 5m).")
        var duration = "90s"

        @Flag(help: "Keep the temporary folder (database and key) at the end.")
        var keep = false

        func run() throws {
            try reportingErrors {
                // Ctrl-C and SIGTERM end the demo gracefully.
                Signals.unblockTermination()
                // The demo talks to its own FakeSinch on loopback, never through a proxy the
                // machine may have configured (libcurl reads these on each request).
                for name in ["no_proxy", "NO_PROXY"] {
                    let existing = ProcessInfo.processInfo.environment[name].map { ",\($0)" } ?? ""
                    setenv(name, "127.0.0.1,localhost" + existing, 1)
                }
                let options = Demo.Options(
                    duration: try DurationText.parse(duration, key: "--duration"),
                    keep: keep,
                    interactive: isatty(STDOUT_FILENO) != 0
                )
                // The demo narrates failures itself: the engine's log lines would tear the live
                // view, so only critical ones show unless TOKENKEEPER_LOG_LEVEL asks for more.
                let logger = Diagnostics.logger(defaultLevel: .critical)
                let report = try runBlocking {
                    try await Demo.run(options, write: { Console.write($0) }, logger: logger)
                }
                if let problem = report.problem {
                    Console.error("the demo failed: \(problem)")
                    throw ExitCode(1)
                }
            }
        }
    }
}

extension Console {
    /// Writes `text` to standard output as it is (the demo's live view brings its own newlines).
    static func write(_ text: String) {
        var output = BufferedOutput()
        output.write(text)
        output.flush()
    }
}
