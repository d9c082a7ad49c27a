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

    /// Runs `tokenkeeper arguments...` with `stdin` as its standard input.
    @discardableResult
    package func run(_ arguments: [String], stdin: String? = nil, stdinFile: String? = nil) throws -> Result {
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

    package func run(_ arguments: String..., stdin: String? = nil) throws -> Result {
        try run(arguments, stdin: stdin)
    }

    /// ``run(_:stdin:stdinFile:)`` on its own thread, for async tests: waiting for the child must
    /// not hold one of the few cooperative threads that an in-process FakeSinch answers on.
    package func runDetached(_ arguments: [String], stdin: String? = nil) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Swift.Result { try self.run(arguments, stdin: stdin) })
            }
        }
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
