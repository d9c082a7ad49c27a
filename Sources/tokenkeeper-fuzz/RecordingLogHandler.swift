import Logging
import Synchronization

/// Keeps every log line, message and metadata, as text.
struct RecordingLogHandler: LogHandler {
    /// The lines, shared by every copy of the handler: a logger copies its handler.
    final class Lines: Sendable {
        private let lines = Mutex<[String]>([])

        var text: String { lines.withLock { $0.joined(separator: "\n") } }

        func append(_ line: String) { lines.withLock { $0.append(line) } }
    }

    let lines: Lines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let fields = metadata.merging(event.metadata ?? [:]) { $1 }
        lines.append("\(event.message) \(fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })")
    }
}
