import Foundation
import Testing
import TokenKeeper
import TokenKeeperTesting

/// A database setting is a server's URL or a file's path, decided in one place and without
/// regard to the scheme's case; a URL's password is never printed, and a missing one is named by
/// the settings that give it.
@Suite struct DatabaseURLCLITests {
    /// The CLI of `sandbox` run from inside its folder, so a path made by mistake lands there.
    static func cliInFolder(_ sandbox: CLISandbox) -> CLI {
        var cli = sandbox.cli
        cli.launcher = ["/bin/sh", "-c", "cd '\(sandbox.directory.path)' && exec \"$0\" \"$@\""]
        return cli
    }

    @Test func anySpellingOfThePostgresSchemeIsAURL() {
        for url in ["postgres://db/tk", "POSTGRES://db/tk", "PostgreSQL://u:p@db/tk", "postgresql://db"] {
            #expect(DatabaseLocation.isPostgresURL(url), "\(url)")
        }
        for path in ["./POSTGRES:/x", "/var/lib/tk.sqlite", "tk.sqlite", "://x", "1pg://x", "a b://x"] {
            #expect(!DatabaseLocation.isURL(path), "\(path)")
        }
        #expect(DatabaseLocation.isURL("mysql://db/x") && !DatabaseLocation.isPostgresURL("mysql://db/x"))
        #expect(DatabaseLocation.hasPassword("POSTGRES://u:secret@db/tk"))
        #expect(ConfigurationLoader.holdsSecret("database:\n  path: POSTGRESQL://u:secret@db/tk\n"))
        // The key file of a server is in the state folder, never beside a "file" named by the URL.
        let configuration = TokenKeeperConfiguration(databasePath: "POSTGRES://db/tk", defaultStateFolder: "/s")
        #expect(configuration.masterKeyFile == "/s/tokenkeeper.key")
    }

    /// `POSTGRES://…` made an SQLite file under `./POSTGRES:/…`, skipped the password check and
    /// printed the password.
    @Test(arguments: ["POSTGRES", "PostgreSQL"])
    func anUppercaseSchemeReachesForTheServer(scheme: String) async throws {
        let secret = "hunter2-\(UUID().uuidString)"
        let sandbox = CLISandbox(uninitializedWith: [
            "TOKENKEEPER_DB": "\(scheme)://tk:\(secret)@127.0.0.1:1/tk?sslmode=disable"
        ])
        let cli = Self.cliInFolder(sandbox)
        for command in ["init", "list"] {
            let result = try await cli.run([command])
            #expect(result.status == 74, "\(command): \(result.stderr)")
            #expect(
                result.stderr.contains("cannot reach PostgreSQL at postgres://tk:redacted@127.0.0.1:1/tk"),
                "\(result.stderr)"
            )
            #expect(!result.everything.contains(secret))
        }
        let made = try FileManager.default.contentsOfDirectory(atPath: sandbox.directory.path)
        #expect(!made.contains { $0.uppercased().hasPrefix("POSTGRES") }, "\(made)")
        // On the command line it is a URL with a password too: refused, every user reads argv.
        let flagged = try await cli.run(["list", "--db", "\(scheme)://tk:\(secret)@127.0.0.1:1/tk"])
        #expect(flagged.status == 64)
        #expect(flagged.stderr.contains("--db must not carry a password"), "\(flagged.stderr)")
        #expect(!flagged.everything.contains(secret))
    }

    @Test func aURLOfAnotherSchemeIsRefusedWithoutQuotingIt() async throws {
        let sandbox = CLISandbox(uninitializedWith: ["TOKENKEEPER_DB": "mysql://u:topsecret@db/tk"])
        let result = try await Self.cliInFolder(sandbox).run(["init"])
        #expect(result.status == 64)
        #expect(
            result.stderr.contains("its scheme mysql is not postgres:// or postgresql://"),
            "\(result.stderr)"
        )
        #expect(!result.everything.contains("topsecret"))
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: sandbox.directory.path).allSatisfy { $0 != "mysql:" }
        )
    }

    /// The sandbox's server URL with the test role's password in it.
    static func urlWithPassword(_ sandbox: CLISandbox) throws -> (url: String, password: String) {
        let password = try #require(TestPostgres.server?.password)
        var components = try #require(URLComponents(string: sandbox.databaseLocation))
        components.password = password
        return (try #require(components.string), password)
    }

    @Test(.enabled(if: TestBackend.all.contains(.postgres)))
    func initNeverPrintsThePasswordOfTheURL() async throws {
        var sandbox = try await CLISandbox(initialized: false, backend: .postgres)
        let (url, password) = try Self.urlWithPassword(sandbox)
        sandbox.cli.environment["TOKENKEEPER_DB"] = url
        sandbox.cli.environment["PGPASSWORD"] = nil
        let created = try await sandbox.succeed("init")
        #expect(created.stdout.contains("created database postgres://tokenkeeper:redacted@"), "\(created.stdout)")
        let again = try await sandbox.succeed("init")
        #expect(again.stdout.contains("is already initialized"), "\(again.stdout)")
        for result in [created, again] { #expect(!result.everything.contains(password)) }
    }

    @Test(.enabled(if: TestBackend.all.contains(.postgres)))
    func noPasswordAnywhereNamesTheSettingsThatGiveOne() async throws {
        var sandbox = try await CLISandbox(backend: .postgres)
        sandbox.cli.environment["PGPASSWORD"] = nil
        let result = try await sandbox.run("list")
        #expect(result.status == 64, "\(result.stderr)")
        #expect(
            result.stderr.contains(
                "the server asks for a password and none was given; set PGPASSWORD, database.password_file"
            ),
            "\(result.stderr)"
        )
        #expect(!result.stderr.contains("authMechanismRequiresPassword"))
    }
}
