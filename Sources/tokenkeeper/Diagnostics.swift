import Foundation
import Logging

/// The CLI's logger: plain lines on standard error, `warning` and up unless
/// `TOKENKEEPER_LOG_LEVEL` says otherwise (`debug` shows each Sinch call's status and latency).
enum Diagnostics {
    static func logger() -> Logger {
        var logger = Logger(label: "tokenkeeper", factory: { StreamLogHandler.standardError(label: $0) })
        let level = ProcessInfo.processInfo.environment["TOKENKEEPER_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) }
        logger.logLevel = level ?? .warning
        return logger
    }
}
