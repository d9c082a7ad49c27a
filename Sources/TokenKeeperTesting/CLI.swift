import Foundation

/// Runs the built `tokenkeeper` binary, as an operator or a cron job would.
package struct CLI: Sendable {
    /// What one run printed and returned.
    package struct Result: Sendable {
        package var status: Int32
        package var stdout: String
        package var stderr: String

        /// stdout and stderr together, for grepping what the program wrote.
        package var everything: String { stdout + stderr }
    }

    package let executable: String
    package var environment: [String: String]
    /// A command that runs the binary, the binary's path and arguments after it (`/bin/sh -c ...`
    /// to start it with a signal ignored); empty to run it directly.
    package var launcher: [String] = []
    /// Whether a run waits for one of the few run slots (``runningSlots``). The tests that race
    /// real time (a daemon keeping tokens alive, a lock that must land before a token comes due, a
    /// second run inside a 6 s Retry-After) set it false, so other tests' runs cannot delay theirs.
    package var queued = true

    /// A CLI with a clean environment: HOME and the database under `directory`, no inherited
    /// TOKENKEEPER_ or SINCH_ variables.
    package init(directory: TemporaryDirectory, environment extra: [String: String] = [:]) {
        executable = Self.locateExecutable()
        var environment = ProcessInfo.processInfo.environment.filter { key, _ in
            !key.hasPrefix("TOKENKEEPER_") && !key.hasPrefix("SINCH_") && key != "XDG_STATE_HOME"
        }
        environment["HOME"] = directory.path
        environment["TOKENKEEPER_DB"] = directory.file("state/tokenkeeper.sqlite")
        environment.merge(extra) { $1 }
        self.environment = environment
    }

    /// Runs `tokenkeeper arguments...` with `stdin` (or the file `stdinFile`) as its standard
    /// input. The wait happens on a thread of its own, never on one of the few cooperative
    /// threads that an in-process FakeSinch and every other test run on.
    @discardableResult
    package func run(_ arguments: [String], stdin: String? = nil, stdinFile: String? = nil) async throws -> Result {
        try await onOwnThread { try self.runWaiting(arguments, stdin: stdin, stdinFile: stdinFile) }
    }

    @discardableResult
    package func run(_ arguments: String..., stdin: String? = nil) async throws -> Result {
        try await run(arguments, stdin: stdin)
    }

    /// How many queued runs may be under way at once in this test process. Tests run in parallel
    /// and each run waits on its own thread, so without a bound dozens of processes would share
    /// two cores and the tests that measure real time would starve. Processes a test starts
    /// itself (``CLISandbox``'s `spawn`) and runs that are not ``queued`` are not counted.
    private static let runningSlots = DispatchSemaphore(value: 3)

    /// Starts the run and waits for it on the calling thread.
    private func runWaiting(_ arguments: [String], stdin: String?, stdinFile: String?) throws -> Result {
        if queued { Self.runningSlots.wait() }
        defer { if queued { Self.runningSlots.signal() } }
        let process = Process()
        if let program = launcher.first {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = launcher.dropFirst() + [executable] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        }
        process.environment = environment
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        let input = Pipe()
        if let stdinFile {
            process.standardInput = FileHandle(forReadingAtPath: stdinFile)
        } else {
            process.standardInput = input
        }
        try process.run()
        if stdinFile == nil {
            // Feed stdin from another thread so a large input cannot deadlock against full output pipes.
            let data = Data((stdin ?? "").utf8)
            let writer = input.fileHandleForWriting
            Thread.detachNewThread {
                // A command that exits without reading its input (refused at once, exit 64)
                // closes the pipe: the write then fails with EPIPE, which is no error of the test.
                // (`write(_:)`, the non-throwing form, would trap on it.)
                try? writer.write(contentsOf: data)
                try? writer.close()
            }
        }
        // Read both pipes concurrently so neither can fill up and stall the child.
        let stderrData = ReadAll(errors.fileHandleForReading)
        let stdoutData = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: stdoutData, as: UTF8.self),
            stderr: String(decoding: stderrData.wait(), as: UTF8.self)
        )
    }

    /// `TOKENKEEPER_BIN`, else `tokenkeeper` beside the test bundle, else `.build/debug`.
    package static func locateExecutable() -> String {
        if let path = ProcessInfo.processInfo.environment["TOKENKEEPER_BIN"] { return path }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [
            bundle.appendingPathComponent("tokenkeeper").path,
            bundle.deletingLastPathComponent().appendingPathComponent("tokenkeeper").path,
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".build/debug/tokenkeeper").path,
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[2]
    }
}

/// Reads a pipe to its end on a background thread.
final class ReadAll: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func wait() -> Data {
        done.wait()
        return data
    }
}
