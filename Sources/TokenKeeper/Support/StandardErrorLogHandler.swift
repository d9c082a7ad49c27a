import Foundation
import Logging
import Synchronization

/// The logs of <doc:CLIContract#Logs>: standard error, one JSON object a line when it is not a terminal
/// (journald, files, log shippers), logfmt-like text on a terminal.
///
/// JSON lines carry `ts` (RFC 3339 with milliseconds), `level`, `msg`, then the metadata as
/// string fields (`token.id`, `sinch.project`, `error.class`, `latency_ms`...). Callers never log
/// token values; the handler writes what it is given.
package struct StandardErrorLogHandler: LogHandler {
    package enum Format: Sendable {
        case json, text

        /// JSON unless standard error is a terminal.
        package static var automatic: Format { isatty(STDERR_FILENO) == 1 ? .text : .json }
    }

    package var metadata: Logger.Metadata = [:]
    package var metadataProvider: Logger.MetadataProvider?
    package var logLevel: Logger.Level = .info
    private let label: String
    private let format: Format

    package init(label: String, format: Format = .automatic) {
        self.label = label
        self.format = format
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { $1 } }
        if let own = event.metadata { fields.merge(own) { $1 } }
        let time = Self.timestamp()
        let line: String
        switch format {
        case .json: line = json(event, fields, time)
        case .text: line = Self.textLine(level: event.level, message: "\(event.message)", fields, time)
        }
        Self.write(line + "\n")
    }

    private func json(_ event: LogEvent, _ fields: Logger.Metadata, _ time: String) -> String {
        var object: [String: String] = ["ts": time, "level": event.level.rawValue, "msg": "\(event.message)"]
        object["logger"] = label
        for (key, value) in fields where object[key] == nil { object[key] = "\(value)" }
        return (try? JSONOutput.encode(object)) ?? "{}"
    }

    /// A text line (a terminal reads it): the message and every value shown through
    /// ``TerminalText/escape(_:)``, since they may quote Sinch or a label.
    package static func textLine(
        level: Logger.Level,
        message: String,
        _ fields: Logger.Metadata,
        _ time: String
    ) -> String {
        var line =
            "\(time) \(level.rawValue.uppercased().padding(toLength: 7, withPad: " ", startingAt: 0)) \(TerminalText.escape(message))"
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            let text = TerminalText.escape("\(value)")
            let quoted = text.isEmpty || text.contains(where: { " \"=\\".contains($0) })
            // `escape` doubled every backslash already: a quote inside needs one in front.
            let escaped = text.replacingOccurrences(of: "\"", with: "\\\"")
            line += " \(TerminalText.escape(key))=" + (quoted ? "\"\(escaped)\"" : text)
        }
        return line
    }

    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let millis = now.tv_nsec / 1_000_000
        let seconds = RFC3339.format(UnixTime(seconds: Int64(now.tv_sec)))
        return "\(seconds.dropLast()).\(String(millis + 1000).dropFirst())Z"
    }

    /// One `write` a line, under a lock, so lines from several threads never interleave.
    private static let lock = Mutex(())

    private static func write(_ line: String) {
        lock.withLock { _ in
            Array(line.utf8).withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = Foundation.write(STDERR_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                    if written < 0, errno == EINTR { continue }
                    guard written > 0 else { return }
                    offset += written
                }
            }
        }
    }
}
