import ArgumentParser
import Foundation
import TokenKeeper

/// The options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: "YAML config file (or TOKENKEEPER_CONFIG).")
    var configFile: String?

    @Option(name: .customLong("db"), help: "SQLite file or postgres:// URL without a password (or TOKENKEEPER_DB).")
    var database: String?

    func context() throws -> CommandContext {
        try StoreChoice.refusePasswordInArguments(database)
        return try CommandContext.load(database: database, configFile: configFile) {
            try StoreChoice.backend(for: $0)
        }
    }
}

/// Runs a command body; a ``TokenKeeperError`` becomes one line on stderr and its exit code.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as TokenKeeperError {
        Console.error(error.message)
        throw ExitCode(error.code.exitCode)
    }
}

/// Sets up a refreshing command (the configuration, the store, the Sinch client): an error here
/// is reported alone, with no summary, since no run began.
func reportingSetupErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as TokenKeeperError {
        Console.error(error.message)
        throw ExitCode(error.code.exitCode)
    }
}

/// Runs a refreshing command (`run-once`, `refresh`) once set up and prints its summary on every
/// way out: when an error stops it, the summary holds what was done before, and the error line
/// says what was committed.
func reportingRefreshErrors(json: Bool, _ body: () throws -> RefreshSummary) throws -> RefreshSummary {
    func printSummary(_ summary: RefreshSummary) {
        Console.out((json ? try? JSONOutput.encode(summary) : nil) ?? TextOutput.refreshSummary(summary))
    }
    do {
        let summary = try body()
        printSummary(summary)
        return summary
    } catch let interrupted as RefreshInterrupted {
        printSummary(interrupted.summary)
        let error = interrupted.report
        Console.error(error.message)
        throw ExitCode(error.code.exitCode)
    } catch let error as TokenKeeperError {
        printSummary(RefreshSummary())
        Console.error(error.message)
        throw ExitCode(error.code.exitCode)
    }
}

enum Console {
    static func error(_ message: String) {
        // An error may quote a label, an id from the command line or Sinch's own message.
        FileHandle.standardError.write(Data("tokenkeeper: error: \(TerminalText.escape(message))\n".utf8))
    }

    static func note(_ message: String) {
        FileHandle.standardError.write(Data("\(message)\n".utf8))
    }

    static func out(_ text: String) {
        var output = BufferedOutput()
        output.line(text)
        output.flush()
    }
}

/// Standard output in 64 KiB writes, so a million-line listing is not a million system calls.
struct BufferedOutput: ~Copyable {
    private var buffer: [UInt8] = []

    init() { buffer.reserveCapacity(1 << 16) }

    mutating func line(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= 1 << 16 { flush() }
    }

    mutating func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    mutating func flush() {
        Self.writeAll(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    private static func writeAll(_ buffer: [UInt8]) {
        var offset = 0
        while offset < buffer.count {
            let written = buffer[offset...].withUnsafeBytes { Foundation.write(1, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                break  // stdout closed (a pipe to `head`): nothing more to say.
            }
            offset += written
        }
    }

    deinit { Self.writeAll(buffer) }
}

/// Parses command-line values, turning failures into usage errors that name the value.
enum Parse {
    static func duration(_ text: String) throws -> Duration {
        guard let duration = DurationText.parse(text) else {
            throw ValidationError(
                "\(Echo.quoted(text)) is not a duration (an integer and a unit: ms, s, m, h, d or w, as in 90s, 14d or 2w)"
            )
        }
        return duration
    }

    static func time(_ text: String) throws -> UnixTime {
        guard let time = RFC3339.parse(text) else {
            throw ValidationError("\(Echo.quoted(text)) is not an RFC 3339 time such as 2026-11-25T10:00:00Z")
        }
        return time
    }
}

extension TokenState: ExpressibleByArgument {}
extension AuditEvent: ExpressibleByArgument {}
