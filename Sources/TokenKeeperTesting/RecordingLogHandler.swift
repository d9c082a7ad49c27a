import Logging
import Synchronization

/// A `LogHandler` that keeps every line, so tests can grep what a library logged.
public struct RecordingLogHandler: LogHandler {
    /// The lines logged so far, shared by every copy of the handler.
    public final class Lines: Sendable {
        private let lines = Mutex<[String]>([])

        public init() {}

        public var all: [String] { lines.withLock { $0 } }

        /// Every line joined, for `contains` checks.
        public var text: String { all.joined(separator: "\n") }

        func append(_ line: String) { lines.withLock { $0.append(line) } }
    }

    public let lines: Lines
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public init(lines: Lines) {
        self.lines = lines
    }

    /// A logger at `trace` level writing into `lines`.
    public static func logger(into lines: Lines) -> Logger {
        Logger(label: "test") { _ in RecordingLogHandler(lines: lines) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        lines.append("\(event.level) \(event.message) \(fields)")
    }
}
