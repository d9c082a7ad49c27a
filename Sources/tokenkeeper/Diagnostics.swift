import Foundation
import Logging
import TokenKeeper

/// The CLI's logger: standard error, JSON lines when it is not a terminal, text on one (see
/// ``StandardErrorLogHandler``). Commands log `warning` and up, the daemon `info` and up (every
/// refresh), unless `TOKENKEEPER_LOG_LEVEL` says otherwise (`debug` shows each Sinch call).
enum Diagnostics {
    static func logger(defaultLevel: Logger.Level = .warning) -> Logger {
        var logger = Logger(label: "tokenkeeper") { StandardErrorLogHandler(label: $0) }
        let level = ProcessInfo.processInfo.environment["TOKENKEEPER_LOG_LEVEL"].flatMap(ConfigurationLoader.logLevel)
        logger.logLevel = level ?? defaultLevel
        return logger
    }
}
