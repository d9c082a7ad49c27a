import Foundation
import Subprocess
import SystemPackage

/// Runs the hooks of <doc:CLIContract#Hooks>: a command line without a shell, 60 s at most, the token on
/// standard input only (never argv or the environment), details in `TOKENKEEPER_*` variables,
/// and none of tokenkeeper's own secrets in its environment.
package struct HookRunner: Sendable {
    package let hooks: TokenKeeperConfiguration.Hooks
    package let timeout: Duration

    package init(hooks: TokenKeeperConfiguration.Hooks, timeout: Duration = .seconds(60)) {
        self.hooks = hooks
        self.timeout = timeout
    }

    /// The variables of secret settings, and the server's password (`PGPASSWORD`), unset in
    /// every hook's environment. (`TOKENKEEPER_DB_PASSWORD_FILE` names a file; its content is
    /// never read into the environment.)
    static let withheld = ConfigurationLoader.settings.filter(\.isSecret).map(\.environment) + ["PGPASSWORD"]

    /// What a hook must not inherit from `environment`: ``withheld``, and `TOKENKEEPER_DB` when
    /// it is a URL that carries a password.
    static func withheld(from environment: [String: String]) -> [String] {
        let database = environment["TOKENKEEPER_DB"].map(DatabaseLocation.hasPassword) ?? false
        return withheld + (database ? ["TOKENKEEPER_DB"] : [])
    }

    /// Whether `hook` is configured at all.
    package func isConfigured(_ hook: RefreshStateMachine.Hook) -> Bool { commandLine(hook) != nil }

    /// Runs `hook` for `record`; nil when it succeeded or is not configured, else what went wrong
    /// (for the `hook_failed` audit row; never holds the token). A `dryRun` rehearsal sets
    /// `TOKENKEEPER_DRY_RUN=1`.
    package func run(
        _ hook: RefreshStateMachine.Hook,
        record: TokenRecord,
        token: String?,
        error: String?,
        dryRun: Bool = false
    ) async -> String? {
        guard let line = commandLine(hook) else { return nil }
        let words = Self.split(line)
        guard let program = words.first else { return "\(hook.rawValue) hook: empty command line" }
        var variables: [String: String] = [
            "TOKENKEEPER_TOKEN_ID": record.id,
            "TOKENKEEPER_PROJECT": record.projectID,
            "TOKENKEEPER_LABEL": record.label ?? "",
            "TOKENKEEPER_EXPIRES_AT": RFC3339.format(record.expiresAt),
        ]
        if hook != .deploy { variables["TOKENKEEPER_ERROR"] = error ?? "" }
        if dryRun { variables["TOKENKEEPER_DRY_RUN"] = "1" }
        let arguments = Array(words.dropFirst())
        let environmentValues = variables
        let withheld = Self.withheld(from: ProcessInfo.processInfo.environment)
        let limit = timeout
        do {
            // The token goes into a pipe before the hook starts, and nothing is written after:
            // a hook that exits at once, reads part of it or closes its stdin can never make this
            // process write to a pipe nobody reads (SIGPIPE, or a writer left open that traps).
            let stdin = try HookInput.pipe(holding: hook == .deploy ? (token ?? "") + "\n" : "")
            let status = try await withThrowingTaskGroup(of: TerminationStatus?.self) { group in
                group.addTask {
                    let executable: Executable = program.contains("/") ? .path(FilePath(program)) : .name(program)
                    var environment: [Environment.Key: String?] = [:]
                    // A hook inherits the process's environment, less its secrets: the master key
                    // opens every stored token, the Sinch secret is the account's, and the
                    // database password opens the store.
                    for name in withheld {
                        if let key = Environment.Key(rawValue: name) { environment[key] = .some(nil) }
                    }
                    for (key, value) in environmentValues {
                        if let key = Environment.Key(rawValue: key) { environment[key] = value }
                    }
                    var options = PlatformOptions()
                    options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .seconds(2))]
                    return try await Subprocess.run(
                        executable,
                        arguments: Arguments(arguments),
                        environment: .inherit.updating(environment),
                        platformOptions: options,
                        input: .fileDescriptor(stdin, closeAfterSpawningProcess: true),
                        output: .discarded,
                        error: .discarded
                    ).terminationStatus
                }
                group.addTask {
                    try await Task.sleep(for: limit)
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first
            }
            switch status {
            case nil: return "\(hook.rawValue) hook timed out after \(DurationText.format(limit))"
            case .exited(0): return nil
            case .exited(let code): return "\(hook.rawValue) hook exited \(code)"
            case .some(let other): return "\(hook.rawValue) hook ended by \(other)"
            }
        } catch {
            return "\(hook.rawValue) hook could not run: \(error)"
        }
    }

    private func commandLine(_ hook: RefreshStateMachine.Hook) -> String? { hooks[hook] }

    /// Splits a command line into words at unquoted whitespace; single and double quotes group.
    static func split(_ line: String) -> [String] {
        var words: [String] = []
        var current = ""
        var quote: Character?
        var inWord = false
        for character in line {
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == "'" || character == "\"" {
                quote = character
                inWord = true
            } else if character.isWhitespace {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(character)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }
}

/// A hook's standard input, written whole before the hook starts.
enum HookInput {
    /// `F_SETPIPE_SZ` (Linux), which Glibc's module map leaves out.
    private static let linuxSetPipeSize: Int32 = 1_031

    /// The read end of a new pipe that already holds `text`, its write end closed: the hook
    /// reads `text` then end-of-file, and may stop reading or close it at any moment.
    static func pipe(holding text: String) throws -> FileDescriptor {
        var ends: [Int32] = [-1, -1]
        guard Glibc.pipe(&ends) == 0 else { throw Errno(rawValue: errno) }
        let (reader, writer) = (ends[0], ends[1])
        defer { close(writer) }
        // Neither end may leak into another child started meanwhile (another hook).
        _ = fcntl(reader, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writer, F_SETFD, FD_CLOEXEC)
        let bytes = Array(text.utf8)
        // A pipe holds 64 KiB unless asked for more; the write must never wait for the reader.
        if bytes.count > 65_536, fcntl(writer, linuxSetPipeSize, Int32(bytes.count)) < 0 {
            close(reader)
            throw Errno(rawValue: errno)
        }
        if case .failure(let error) = FileSystem.writeAll(bytes, to: writer) {
            close(reader)
            throw error
        }
        return FileDescriptor(rawValue: reader)
    }
}
