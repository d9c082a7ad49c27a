import Foundation
import TokenKeeperTesting

/// A PostgreSQL server of one test's own, started by `scripts/lib/postgres-cluster` as the run's
/// shared one is: for a test that stops the server or reaches it from a network namespace,
/// which would break every other test on the shared one. ``stop()`` removes it; call it in a
/// `defer`.
struct PrivatePostgres: Sendable {
    /// The tokenkeeper role's URL on 127.0.0.1 (no password) and its password.
    let url: String
    let password: String
    let port: String
    private let data: String
    private let log: String
    private let superuserRun: [String]
    private let bin: String
    /// The folder the script made: the data folder, the log, the socket.
    private let folder: String
    private let listen: String

    /// Starts a server listening on 127.0.0.1 and `listen` (comma-separated), accepting password
    /// logins from the networks in `allow`. Takes initdb's time: a few seconds.
    static func start(listen: [String] = [], allow: [String] = []) async throws -> PrivatePostgres {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../../scripts/lib/postgres-cluster"
        ).standardized.path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        // The script's own stop would run at this shell's exit: this shell prints the variables
        // and leaves the server running; ``stop()`` does the rest.
        process.arguments = [
            "-c", Self.closeInherited + "; source \"$1\" && postgres_cluster_start && env -0", "private-postgres",
            script,
        ]
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("TOKENKEEPER_TEST_POSTGRES") }
        environment["POSTGRES_CLUSTER_LISTEN"] = listen.joined(separator: ",")
        environment["POSTGRES_CLUSTER_ALLOW"] = allow.joined(separator: " ")
        process.environment = environment
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let (text, problem) = try await onOwnThread {
            (
                output.fileHandleForReading.readDataToEndOfFile(),
                errors.fileHandleForReading.readDataToEndOfFile()
            )
        }
        _ = try await process.exited(within: .seconds(120))
        guard process.terminationStatus == 0 else {
            throw CLITestFailure("postgres-cluster failed: \(String(decoding: problem, as: UTF8.self))")
        }
        var values: [String: String] = [:]
        for entry in text.split(separator: 0) {
            let pair = String(decoding: entry, as: UTF8.self).split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2, pair[0].hasPrefix("TOKENKEEPER_TEST_POSTGRES_") { values[pair[0]] = pair[1] }
        }
        func value(_ name: String) throws -> String {
            guard let value = values["TOKENKEEPER_TEST_POSTGRES_" + name] else {
                throw CLITestFailure("postgres-cluster did not export TOKENKEEPER_TEST_POSTGRES_\(name)")
            }
            return value
        }
        let data = try value("DATA")
        return PrivatePostgres(
            url: try value("URL"),
            password: try value("PASSWORD"),
            port: try value("PORT"),
            data: data,
            log: try value("LOG"),
            superuserRun: (values["TOKENKEEPER_TEST_POSTGRES_SUPERUSER_RUN"] ?? "").split(separator: " ").map(
                String.init
            ),
            bin: try value("BIN"),
            folder: URL(fileURLWithPath: data).deletingLastPathComponent().path,
            listen: listen.joined(separator: ",")
        )
    }

    /// Bash that closes every descriptor past stderr. A server started here runs on: it must not
    /// keep this test process's descriptors open (it held the write end of another test's
    /// sqlite3 stdin, so that sqlite3 never saw its input end and the suite hung).
    private static let closeInherited =
        #"for fd in /proc/$$/fd/*; do fd=${fd##*/}; if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi; done 2>/dev/null"#

    /// `url` with its host replaced (a veth address).
    func url(host: String) -> String {
        var components = URLComponents(string: url)!
        components.host = host
        return components.string!
    }

    /// Stops the server the way an operator's restart does (`-m fast`: clients are disconnected).
    func stopServer() async throws {
        try await pgctl(["stop", "-m", "fast", "-w", "-t", "60"])
    }

    /// Starts it again on the same port, folder and addresses.
    func startServer() async throws {
        try await pgctl(["start", "-w", "-t", "60", "-l", log, "-o", serverOptions])
    }

    /// `pg_ctl restart -m fast` (or `-m immediate`: a crash, the server recovering from its WAL),
    /// as an operator runs it: clients are disconnected, the server is back on the same port,
    /// folder and addresses when it returns. `durable`: with `fsync` and `synchronous_commit` on,
    /// as a production server runs (the test default turns them off for speed, and then a crash
    /// loses commits the server had acknowledged).
    func restartServer(immediately: Bool = false, durable: Bool = false) async throws {
        let mode = immediately ? "immediate" : "fast"
        try await pgctl(["restart", "-m", mode, "-w", "-t", "60", "-l", log, "-o", serverOptions(durable: durable)])
    }

    private var serverOptions: String { serverOptions(durable: false) }

    private func serverOptions(durable: Bool) -> String {
        let addresses = "127.0.0.1" + (listen.isEmpty ? "" : "," + listen)
        return "-c listen_addresses=\(addresses) -p \(port) -k '\(folder)'"
            + (durable ? "" : " -c fsync=off -c synchronous_commit=off")
    }

    /// Stops the server at once and removes its folder; safe to call twice.
    func stop() {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = superuserRun + [bin + "/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"]
        process.currentDirectoryURL = URL(fileURLWithPath: folder)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        if (try? process.run()) != nil { process.waitUntilExit() }
        // Only ever the script's own mktemp folder.
        if URL(fileURLWithPath: folder).lastPathComponent.hasPrefix("tokenkeeper-postgres.") {
            try? FileManager.default.removeItem(atPath: folder)
        }
    }

    private func pgctl(_ arguments: [String]) async throws {
        let command =
            ["/bin/bash", "-c", Self.closeInherited + "; cd \"$0\" && exec \"$@\" >/dev/null 2>&1", folder]
            + superuserRun + [bin + "/pg_ctl", "-D", data] + arguments
        // pg_ctl -w -t 60 ends by itself. Spawned and reaped by hand: Foundation's Process never
        // saw `runuser pg_ctl start` end (left a zombie) once the server it started ran on.
        let status = try await onOwnThread { try Self.spawnAndWait(command) }
        guard status == 0 else {
            throw CLITestFailure("pg_ctl \(arguments.first ?? "") exited \(status) (see \(log))")
        }
    }

    private static func spawnAndWait(_ command: [String]) throws -> Int32 {
        var pid: pid_t = 0
        let argv = command.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        let spawned = posix_spawn(&pid, command[0], nil, nil, argv, environ)
        guard spawned == 0 else { throw CLITestFailure("cannot start \(command[0]): errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw CLITestFailure("waitpid: errno \(errno)") }
        }
        // Exited normally: its code; killed by a signal: 128 + the signal, as a shell says.
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}
