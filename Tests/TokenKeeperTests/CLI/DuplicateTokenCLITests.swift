import Foundation
import Testing
import TokenKeeperTesting

/// A token value is stored once: a second record would be refreshed apart from the first, and the
/// customer's app handed two different tokens for one signup.
@Suite struct DuplicateTokenCLITests {
    private static func line(_ token: String, project: String = "p1") -> String {
        #"{"project":"\#(project)","token":"\#(token)"}"#
    }

    @Test func addingAStoredTokenAgainExits65AndNamesTheRecord() throws {
        let sandbox = try CLISandbox()
        let token = CLISecret.make()
        let id = try sandbox.add(token)
        let again = try sandbox.run("add", "--project", "p2", stdin: token + "\n")
        #expect(again.status == 65)
        #expect(again.stderr.contains("already stored as \(id)"), "\(again.stderr)")
        #expect(!again.everything.contains(token))
        #expect(try sandbox.listedIDs() == [id])
        #expect(try sandbox.auditJSON("--event", "added").count == 1)
    }

    @Test func replaceKeepsWorkingButNotWithAnotherRecordsToken() throws {
        let sandbox = try CLISandbox()
        let (first, second) = (CLISecret.make(), CLISecret.make())
        let firstID = try sandbox.add(first)
        let secondID = try sandbox.add(second)
        // A new value, and the record's own value again, are both fine.
        try sandbox.succeed("add", "--replace", firstID, stdin: CLISecret.make() + "\n")
        let renewed = CLISecret.make()
        try sandbox.succeed("add", "--replace", secondID, stdin: renewed + "\n")
        try sandbox.succeed("add", "--replace", secondID, stdin: renewed + "\n")
        let taken = try sandbox.run("add", "--replace", firstID, stdin: renewed + "\n")
        #expect(taken.status == 65)
        #expect(taken.stderr.contains("already stored as \(secondID)"), "\(taken.stderr)")
        #expect(try sandbox.succeed("get", secondID).stdout == renewed + "\n")
    }

    @Test func importingAStoredTokenImportsNothingAndNamesTheLine() throws {
        let sandbox = try CLISandbox()
        let stored = CLISecret.make()
        let id = try sandbox.add(stored)
        let file = sandbox.directory.file("again.jsonl")
        try CLIFiles.write(
            [Self.line(CLISecret.make()), Self.line(stored), Self.line(CLISecret.make())].joined(separator: "\n"),
            to: file
        )
        let result = try sandbox.run("import", file)
        #expect(result.status == 65)
        #expect(result.stderr.contains("line 2: this token is already stored as \(id)"), "\(result.stderr)")
        #expect(result.stderr.contains("nothing was imported"))
        #expect(!result.everything.contains(stored))
        #expect(try sandbox.listedIDs() == [id])

        // Re-running an import with --skip-existing adds only what is new, and says so.
        let skipping = try sandbox.succeed("import", file, "--skip-existing", "--json")
        #expect(try CLIJSON.parse(skipping.stdout) == .object(["imported": .integer(2), "skipped": .integer(1)]))
        let rerun = try sandbox.succeed("import", file, "--skip-existing")
        #expect(rerun.stdout == "imported 0 tokens, skipped 3 already stored\n")
        #expect(try sandbox.listedIDs().count == 3)
    }

    @Test func aTokenTwiceInOneFileIsRefusedAtItsSecondLine() throws {
        let sandbox = try CLISandbox()
        let token = CLISecret.make()
        let file = sandbox.directory.file("twice.jsonl")
        try CLIFiles.write(
            [Self.line(token), Self.line(CLISecret.make()), Self.line(token, project: "p2")].joined(separator: "\n"),
            to: file
        )
        let result = try sandbox.run("import", file)
        #expect(result.status == 65)
        #expect(result.stderr.contains("line 3: the same token as line 1"), "\(result.stderr)")
        #expect(try sandbox.listedIDs().isEmpty)
        #expect(
            try CLIJSON.parse(try sandbox.succeed("import", file, "--skip-existing", "--json").stdout)["skipped"]
                == .integer(1)
        )
    }
}
