import Foundation
import Testing
import TokenKeeperTesting

/// One test's world: a temp folder, the built binary pointed at a database inside it.
///
/// Every end-to-end test makes its own, so tests run in parallel without sharing a file. Every
/// run is `async`: it waits on a thread of its own (``CLI/run(_:stdin:stdinFile:)``).
struct CLISandbox {
    let directory: TemporaryDirectory
    var cli: CLI
    /// Where the store is: an SQLite file in the folder, or a fresh database on the run's server.
    private(set) var backend = TestBackend.sqlite

    /// A sandbox whose database is not made yet.
    init(uninitializedWith environment: [String: String] = [:]) {
        directory = TemporaryDirectory("tokenkeeper-cli")
        cli = CLI(directory: directory, environment: environment)
    }

    /// A sandbox whose database is created by `tokenkeeper init` unless `initialized` is false.
    init(initialized: Bool = true, environment: [String: String] = [:], backend: TestBackend = .sqlite) async throws {
        self.init(uninitializedWith: environment)
        if backend == .postgres { try usePostgres() }
        if initialized { try await initialize() }
    }

    /// Points the sandbox at a new, empty database on the run's PostgreSQL server (its URL in
    /// `TOKENKEEPER_DB`, the password in `PGPASSWORD`, never on a command line).
    mutating func usePostgres() throws {
        usePostgres(url: try TestPostgres.freshDatabase(), password: TestPostgres.server?.password)
    }

    /// Points the sandbox at the database of `url` (a server of the test's own).
    mutating func usePostgres(url: String, password: String?) {
        backend = .postgres
        cli.environment["TOKENKEEPER_DB"] = url
        cli.environment["PGPASSWORD"] = password
    }

    /// The store's location as the tool names it: the file's path or the database's URL.
    var databaseLocation: String { cli.environment["TOKENKEEPER_DB"] ?? databasePath }

    /// Makes the database as `tokenkeeper init` does. A sandbox whose environment leaves `init`
    /// nothing to decide (the default database path, no key in the environment, no config file)
    /// gets a copy of one database and key file that `init` made once for this test process:
    /// the same files, without 240 runs of `init`. Any other sandbox runs `init` itself.
    func initialize() async throws {
        if cli.environment["TOKENKEEPER_DB"] == databasePath,
            !cli.environment.keys.contains(where: Self.initSettings.contains)
        {
            try await Self.initializedTemplate.value.copy(into: directory.file("state"))
            return
        }
        let result = try await cli.run("init")
        guard result.status == 0 else {
            throw CLITestFailure("tokenkeeper init exited \(result.status): \(result.stderr)")
        }
    }

    /// The variables that change what `init` writes.
    private static let initSettings: Set<String> = [
        "TOKENKEEPER_MASTER_KEY", "TOKENKEEPER_MASTER_KEY_FILE", "TOKENKEEPER_CONFIG",
    ]

    /// The folder `tokenkeeper init` filled once, in a clean environment (made on first use).
    private static let initializedTemplate = Task { try await InitializedFolder.make() }

    var databasePath: String { directory.file("state/tokenkeeper.sqlite") }
    /// The default key file: beside the SQLite file, or in the default state folder for a server.
    var keyFilePath: String {
        backend == .sqlite
            ? directory.file("state/tokenkeeper.key") : directory.file(".local/state/tokenkeeper/tokenkeeper.key")
    }

    @discardableResult
    func run(_ arguments: String..., stdin: String? = nil) async throws -> CLI.Result {
        try await cli.run(arguments, stdin: stdin)
    }

    /// Runs a command that must succeed; a failure stops the test with the command's stderr.
    @discardableResult
    func succeed(
        _ arguments: String...,
        stdin: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> CLI.Result {
        let result = try await cli.run(arguments, stdin: stdin)
        try #require(
            result.status == 0,
            "tokenkeeper \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)",
            sourceLocation: sourceLocation
        )
        return result
    }

    /// Adds `token` with `add` (the token on standard input, the default) and returns the new id.
    @discardableResult
    func add(
        _ token: String,
        project: String = "p1",
        _ extra: String...,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> String {
        let result = try await cli.run(["add", "--project", project] + extra, stdin: token + "\n")
        try #require(
            result.status == 0,
            "add exited \(result.status): \(result.stderr)",
            sourceLocation: sourceLocation
        )
        return result.stdout.trimmingCharacters(in: .newlines)
    }

    /// `list --json` with `filters`, parsed.
    func listJSON(_ filters: String..., sourceLocation: SourceLocation = #_sourceLocation) async throws -> [CLIJSON] {
        try await listJSON(filters, sourceLocation: sourceLocation)
    }

    func listJSON(_ filters: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws -> [CLIJSON] {
        let result = try await cli.run(["list", "--json"] + filters)
        try #require(
            result.status == 0,
            "list exited \(result.status): \(result.stderr)",
            sourceLocation: sourceLocation
        )
        return try #require(try CLIJSON.parse(result.stdout).array, sourceLocation: sourceLocation)
    }

    /// The ids `list --json` prints with `filters`, in its order.
    func listedIDs(_ filters: String..., sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String] {
        try await listJSON(filters, sourceLocation: sourceLocation).compactMap { $0["id"]?.string }
    }

    /// `audit --json` with `filters`, one parsed object a line.
    func auditJSON(_ filters: String..., sourceLocation: SourceLocation = #_sourceLocation) async throws -> [CLIJSON] {
        let result = try await cli.run(["audit", "--json"] + filters)
        try #require(
            result.status == 0,
            "audit exited \(result.status): \(result.stderr)",
            sourceLocation: sourceLocation
        )
        return try CLIJSON.parseLines(result.stdout)
    }

    /// Runs SQL behind the tool's back on either store (`sqlite3` or `psql`, rows as `a|b`).
    @discardableResult
    func underTheSeam(_ sql: String) async throws -> String {
        guard backend == .postgres else { return try await sqlite(sql) }
        let (url, password) = (databaseLocation, cli.environment["PGPASSWORD"] ?? "")
        return try await onOwnThread { try TestPostgres.psql(url, password: password, sql) }
    }

    /// Runs SQL on the database behind the tool's back, with the `sqlite3` command line.
    @discardableResult
    func sqlite(_ sql: String) async throws -> String {
        let path = databasePath
        return try await onOwnThread { try CLISQLite.run(path, sql) }
    }
}

/// A `state` folder as `tokenkeeper init` leaves it: the database (0600) and its key file (0600).
struct InitializedFolder: Sendable {
    let directory = TemporaryDirectory("tokenkeeper-init")

    /// Runs `tokenkeeper init` in a new folder.
    static func make() async throws -> InitializedFolder {
        let folder = InitializedFolder()
        let result = try await CLI(directory: folder.directory).run("init")
        guard result.status == 0 else {
            throw CLITestFailure("tokenkeeper init exited \(result.status) in the template folder: \(result.stderr)")
        }
        return folder
    }

    /// Copies the folder's files into `state`, created 0700, each file 0600 as `init` made it.
    func copy(into state: String) throws {
        let files = FileManager.default
        try files.createDirectory(
            atPath: state,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        let source = directory.file("state")
        for name in try files.contentsOfDirectory(atPath: source) {
            let target = state + "/" + name
            try files.copyItem(atPath: source + "/" + name, toPath: target)
            try files.setAttributes([.posixPermissions: 0o600], ofItemAtPath: target)
        }
    }
}

struct CLITestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Token values distinctive enough to grep for in files and output.
enum CLISecret {
    static func make(_ prefix: String = "EAAsecret") -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        return prefix + String((0..<40).map { _ in alphabet.randomElement()! })
    }
}

/// The `sqlite3` command line, for changing a database the way an intruder or a bug would.
enum CLISQLite {
    static func run(_ database: String, _ sql: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["sqlite3", database, sql]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let text = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CLITestFailure("sqlite3 failed: \(String(decoding: errorText, as: UTF8.self))")
        }
        return String(decoding: text, as: UTF8.self)
    }
}

/// File facts the tests check: permission bits and raw bytes.
enum CLIFiles {
    static func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return try #require(attributes[.posixPermissions] as? Int) & 0o777
    }

    static func bytes(_ path: String) -> Data? {
        FileManager.default.contents(atPath: path)
    }

    static func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path)
    }

    /// Writes `text` to a file readable by its owner alone, as an operator keeps a config file
    /// that holds a secret (<doc:Operations#Permissions>).
    static func write(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
    }
}

/// A `sqlite3` process with the database open, so SQLite keeps the -wal and -shm files after
/// tokenkeeper exits (the last connection to close deletes them), or with a transaction held.
final class SQLiteConnectionHolder {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()

    /// Opens `database` and runs `sql` (say `BEGIN IMMEDIATE;`), then returns while it stays open.
    init(database: String, sql: String = "") throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["sqlite3", database]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Touch the schema so the connection is open before the test goes on.
        input.fileHandleForWriting.write(Data("SELECT COUNT(*) FROM sqlite_master;\n\(sql)\nSELECT 'ready';\n".utf8))
        var seen = ""
        while !seen.contains("ready") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { throw CLITestFailure("sqlite3 exited before opening \(database)") }
            seen += String(decoding: chunk, as: UTF8.self)
        }
    }

    func close() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}

extension CLISandbox {
    /// An initialized sandbox whose CLI talks to `sinch` with its key; `environment` adds or
    /// overrides variables.
    static func make(
        sinch: SinchHarness,
        environment: [String: String] = [:],
        backend: TestBackend = .sqlite
    ) async throws -> CLISandbox {
        var sandbox = CLISandbox(uninitializedWith: [:])
        if backend == .postgres { try sandbox.usePostgres() }
        sandbox.point(at: sinch, environment: environment)
        try await sandbox.initialize()
        return sandbox
    }

    /// Sends the CLI to `sinch` with its key; `environment` adds or overrides variables.
    mutating func point(at sinch: SinchHarness, environment: [String: String]) {
        cli.environment.merge(
            [
                "SINCH_PROVISIONING_URL": sinch.fake.baseURL,
                "SINCH_AUTH_URL": sinch.fake.authURL,
                "SINCH_KEY_ID": sinch.configuration.keyID,
                "SINCH_KEY_SECRET": sinch.configuration.keySecret,
            ]
        ) { $1 }
        cli.environment.merge(environment) { $1 }
    }

    /// Starts `tokenkeeper arguments...` in the background (a daemon, a run to kill); stderr goes
    /// to `stderrFile` when given. With `importing`, `tokenkeeper import FILE` runs first in the
    /// same shell and the command starts the moment it succeeds, however busy this process is.
    func spawn(_ arguments: [String], stderrFile: String? = nil, importing file: String? = nil) throws -> Process {
        let process = Process()
        if let file {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments =
                ["-c", #""$0" import "$1" >/dev/null && shift && exec "$0" "$@""#, cli.executable, file]
                + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: cli.executable)
            process.arguments = arguments
        }
        process.environment = cli.environment
        process.standardOutput = FileHandle.nullDevice
        if let stderrFile {
            _ = FileManager.default.createFile(atPath: stderrFile, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: stderrFile)
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        return process
    }
}

extension Process {
    /// Sends SIGTERM and waits up to `limit` for the process to end; how long it took.
    @discardableResult
    func terminateGracefully(within limit: Duration) async throws -> Duration {
        let start = ContinuousClock.now
        kill(processIdentifier, SIGTERM)
        _ = try await exited(within: limit)
        return ContinuousClock.now - start
    }
}
