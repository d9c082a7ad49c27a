import Foundation
import Logging

/// The permission rules for the files tokenkeeper trusts (<doc:Operations#Permissions>).
///
/// A file others may write is refused: whoever can write the store or the config can forge
/// the audit or point hooks at their own commands. A file holding a secret (the key file, a config
/// file with `sinch.key_secret` or `master_key`) must also be readable by its owner alone and
/// owned by the user running tokenkeeper. A store or config readable by other users gets a
/// warning (a group-readable store for a monitoring user stays allowed).
package enum FileModes {
    /// What a file holds, for the rule and the message.
    package enum Kind: Sendable {
        case store, config, secretConfig, key, passwordFile

        var name: String {
            switch self {
            case .store: "database"
            case .config, .secretConfig: "config file"
            case .key: "key file"
            case .passwordFile: "database.password_file"
            }
        }

        var holdsSecret: Bool { self == .secretConfig || self == .key || self == .passwordFile }
    }

    /// Refuses `path` (exit 64, naming it and its mode) when its mode or owner breaks the rule
    /// for `kind`; logs a warning when other users may read a file that holds no secret. A
    /// missing file passes (the caller reports it).
    package static func check(_ path: String, _ kind: Kind) throws {
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        try check(info, path, kind)
    }

    /// The rule for the file open at `descriptor` (named `path` in messages): what is checked
    /// is what is then read, even if the path is swapped meanwhile.
    package static func check(descriptor: Int32, _ path: String, _ kind: Kind) throws {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return }
        try check(info, path, kind)
    }

    private static func check(_ info: stat, _ path: String, _ kind: Kind) throws {
        let mode = info.st_mode & 0o777
        let shown = String(mode, radix: 8)
        if mode & 0o022 != 0 {
            throw TokenKeeperError(
                .configuration,
                "refusing \(kind.name) \(path): it is writable by group or others (mode \(shown)); run `chmod go-w \(path)`"
            )
        }
        if kind.holdsSecret {
            if mode & 0o077 != 0 {
                let holds = kind == .secretConfig ? " holds a secret and" : ""
                throw TokenKeeperError(
                    .configuration,
                    "refusing \(kind.name) \(path): it\(holds) is readable by group or others (mode \(shown)); run `chmod 600 \(path)`"
                )
            }
            if info.st_uid != geteuid() {
                throw TokenKeeperError(
                    .configuration,
                    "refusing \(kind.name) \(path): it is owned by uid \(info.st_uid), not by the user running tokenkeeper (uid \(geteuid())); run `chown` on it"
                )
            }
        } else if mode & 0o004 != 0 {
            logger.warning(
                "\(kind.name) \(path) is readable by other users (mode \(shown)); run `chmod o-r \(path)`"
            )
        }
    }

    private static let logger: Logger = {
        var logger = Logger(label: "tokenkeeper") { StandardErrorLogHandler(label: $0) }
        logger.logLevel = .warning
        return logger
    }()
}
