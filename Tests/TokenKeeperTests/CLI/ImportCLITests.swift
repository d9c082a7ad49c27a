import Foundation
import Testing
import TokenKeeperTesting

/// `tokenkeeper import [FILE | -]`: JSON Lines, all or nothing.
@Suite struct ImportCLITests {
    /// One JSON line, built with JSONSerialization so the test's own quoting cannot be wrong.
    private static func line(_ fields: [String: String]) -> String {
        let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    @Test(arguments: TestBackend.all)
    func importFromAFileStoresEveryLineAndPrintsTheJSONSummary(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let expiry = CLITime.format(CLITime.days(20))
        let tokens = [CLISecret.make(), CLISecret.make(), CLISecret.make()]
        let file = sandbox.directory.file("tokens.jsonl")
        try CLIFiles.write(
            [
                Self.line(["project": "p1", "token": tokens[0]]),
                Self.line(["project": "p1", "token": tokens[1], "label": "Acme", "waba": "1000"]),
                Self.line(["project": "p2", "token": tokens[2], "expires_at": expiry]),
            ].joined(separator: "\n") + "\n",
            to: file
        )

        let result = try await sandbox.succeed("import", file, "--json")

        #expect(try CLIJSON.parse(result.stdout) == .object(["imported": .integer(3)]))
        let listed = try await sandbox.listJSON()
        #expect(listed.count == 3)
        let acme = try #require(listed.first { $0["label"] == .string("Acme") })
        #expect(acme["project"] == .string("p1"))
        #expect(acme["waba"] == .string("1000"))
        let dated = try #require(listed.first { $0["project"] == .string("p2") })
        #expect(dated["expires_at"] == .string(expiry))
        for object in listed {
            let id = try #require(object["id"]?.string)
            #expect(tokens.contains(try await sandbox.succeed("get", id).stdout.trimmingCharacters(in: .newlines)))
        }
    }

    @Test(arguments: TestBackend.all)
    func importAuditsOneAddedEventPerToken(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let lines = (0..<3).map { _ in Self.line(["project": "p1", "token": CLISecret.make()]) }

        try await sandbox.succeed("import", "-", stdin: lines.joined(separator: "\n"))

        let events = try await sandbox.auditJSON()
        #expect(events.count == 3)
        #expect(events.allSatisfy { $0["event"] == .string("added") && $0["detail"]?["source"] == .string("import") })
        #expect(Set(events.compactMap { $0["token"]?.string }) == Set(try await sandbox.listedIDs()))
    }

    @Test(arguments: TestBackend.all)
    func importFromDashReadsStandardInput(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let input = Self.line(["project": "p1", "token": CLISecret.make()]) + "\n"

        let result = try await sandbox.succeed("import", "-", "--json", stdin: input)

        #expect(try CLIJSON.parse(result.stdout) == .object(["imported": .integer(1)]))
        #expect(try await sandbox.listedIDs().count == 1)
    }

    @Test(arguments: TestBackend.all)
    func importWithoutAFileReadsStandardInput(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let input = Self.line(["project": "p1", "token": CLISecret.make()])

        let result = try await sandbox.succeed("import", "--json", stdin: input)

        #expect(try CLIJSON.parse(result.stdout)["imported"] == .integer(1))
    }

    @Test(arguments: TestBackend.all)
    func blankLinesAndWindowsLineEndingsAreIgnored(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let first = Self.line(["project": "p1", "token": CLISecret.make()])
        let second = Self.line(["project": "p1", "token": CLISecret.make()])

        let result = try await sandbox.succeed(
            "import",
            "-",
            "--json",
            stdin: "\n" + first + "\r\n\r\n   \n\t\n" + second + "\n\n"
        )

        #expect(try CLIJSON.parse(result.stdout)["imported"] == .integer(2))
        #expect(try await sandbox.listedIDs().count == 2)
    }

    @Test(arguments: TestBackend.all)
    func emptyInputImportsNothingAndSucceeds(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)

        let result = try await sandbox.succeed("import", "-", "--json", stdin: "")

        #expect(try CLIJSON.parse(result.stdout)["imported"] == .integer(0))
        #expect(try await sandbox.auditJSON().isEmpty)
    }

    /// A bad line among good ones: its number, and what is wrong with it, in the message.
    struct BadLine: Sendable, CustomTestStringConvertible {
        var name: String
        var line: String
        var message: String
        var testDescription: String { name }
    }

    static let badLines: [BadLine] = [
        BadLine(name: "bad JSON", line: #"{"project":"p1","token":"EAAbroken""#, message: "JSON"),
        BadLine(name: "missing token", line: #"{"project":"p1"}"#, message: "token"),
        BadLine(name: "missing project", line: #"{"token":"EAAnoproject"}"#, message: "project"),
        BadLine(
            name: "unknown field",
            line: #"{"project":"p1","token":"EAAx0001","expiry":"soon"}"#,
            message: "expiry"
        ),
        BadLine(
            name: "bad expires_at",
            line: #"{"project":"p1","token":"EAAx0001","expires_at":"next week"}"#,
            message: "expires_at"
        ),
        BadLine(
            name: "expires_at in the past",
            line: #"{"project":"p1","token":"EAAx0001","expires_at":"2020-01-01T00:00:00Z"}"#,
            message: "expires_at"
        ),
        BadLine(name: "token not a string", line: #"{"project":"p1","token":42}"#, message: "token"),
        BadLine(name: "not an object", line: #"["p1","EAAx0001"]"#, message: "line 3"),
        BadLine(name: "token with a space", line: #"{"project":"p1","token":"EAA x"}"#, message: "line 3"),
    ]

    @Test(arguments: badLines)
    func malformedLineImportsNothingAndNamesTheLine(bad: BadLine) async throws {
        let sandbox = try await CLISandbox()
        let existing = try await sandbox.add(CLISecret.make())
        let listed = try await sandbox.succeed("list", "--json").stdout
        let audited = try await sandbox.succeed("audit", "--json").stdout
        let input = [
            Self.line(["project": "p1", "token": CLISecret.make()]),
            "",
            bad.line,
            Self.line(["project": "p1", "token": CLISecret.make()]),
        ].joined(separator: "\n")

        let result = try await sandbox.run("import", "-", "--json", stdin: input)

        #expect(result.status == 65)
        #expect(result.stdout.isEmpty)
        // Line 2 is blank and still counts: the bad line is line 3 of the input.
        #expect(result.stderr.contains("line 3"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains(bad.message), "stderr: \(result.stderr)")
        #expect(try await sandbox.succeed("list", "--json").stdout == listed)
        #expect(try await sandbox.succeed("audit", "--json").stdout == audited)
        #expect(try await sandbox.listedIDs() == [existing])
    }

    @Test(arguments: TestBackend.all)
    func malformedLineFromAFileImportsNothing(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let file = sandbox.directory.file("tokens.jsonl")
        try CLIFiles.write(
            Self.line(["project": "p1", "token": CLISecret.make()]) + "\n{\"project\":\"p1\"}\n",
            to: file
        )

        let result = try await sandbox.run("import", file)

        #expect(result.status == 65)
        #expect(result.stderr.contains("line 2"))
        #expect(try await sandbox.listedIDs().isEmpty)
        #expect(try await sandbox.auditJSON().isEmpty)
    }

    @Test(arguments: TestBackend.all)
    func malformedLineAfterThousandsOfGoodOnesImportsNothing(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let file = sandbox.directory.file("many.jsonl")
        var lines = (1..<5_000).map { Self.line(["project": "bulk", "token": "EAAbulk\($0)"]) }
        lines.append(#"{"project":"bulk","token":"EAAlast","colour":"red"}"#)
        try CLIFiles.write(lines.joined(separator: "\n") + "\n", to: file)

        let result = try await sandbox.run("import", file)

        #expect(result.status == 65)
        #expect(result.stderr.contains("line 5000"), "stderr: \(result.stderr)")
        #expect(try await sandbox.listedIDs().isEmpty)
        #expect(try await sandbox.auditJSON().isEmpty)
        #expect(try await sandbox.succeed("audit", "verify").status == 0)
    }

    @Test(arguments: TestBackend.all)
    func missingFileIsBadInputAndImportsNothing(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)

        let result = try await sandbox.run("import", sandbox.directory.file("nope.jsonl"))

        #expect(result.status == 65)
        #expect(result.stderr.contains("nope.jsonl"))
        #expect(try await sandbox.listedIDs().isEmpty)
    }
}
