import Logging
import Synchronization

/// A `LogHandler` that keeps every line, so tests can grep what a library logged.
package struct RecordingLogHandler: LogHandler {
    /// The lines logged so far, shared by every copy of the handler.
    package final class Lines: Sendable {
        private let lines = Mutex<[String]>([])

        package init() {}

        package var all: [String] { lines.withLock { $0 } }

        /// Every line joined, for `contains` checks.
        package var text: String { all.joined(separator: "\n") }

        func append(_ line: String) { lines.withLock { $0.append(line) } }
    }

    package let lines: Lines
    package var metadata: Logger.Metadata = [:]
    package var logLevel: Logger.Level = .trace

    package init(lines: Lines) {
        self.lines = lines
    }

    /// A logger at `trace` level writing into `lines`.
    package static func logger(into lines: Lines) -> Logger {
        Logger(label: "test") { _ in RecordingLogHandler(lines: lines) }
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        lines.append("\(event.level) \(event.message) \(fields)")
    }
}
