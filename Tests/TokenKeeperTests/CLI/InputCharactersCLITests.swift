import Foundation
import Testing
import TokenKeeperTesting

/// Characters refused where text comes in (`add`, `import`), exit 65, with their position and
/// never the token: a NUL (SQLite kept the label cut short, PostgreSQL failed the write with 74),
/// invisible format characters (a zero-width space, a bidi mark: Unicode category Cf), and
/// tokens of a character or with a space inside.
@Suite struct InputCharactersCLITests {
    @Test(arguments: TestBackend.all)
    func aNULInALabelRefusesTheImportAtItsLine(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let file = sandbox.directory.file("nul.jsonl")
        try CLIFiles.write(
            #"{"project":"p1","token":"\#(CLISecret.make())","label":"Acme"}"# + "\n"
                + #"{"project":"p1","token":"\#(CLISecret.make())","label":"Acm\u0000e"}"# + "\n",
            to: file
        )
        let result = try await sandbox.run("import", file)
        #expect(result.status == 65, "\(result.stderr)")
        #expect(
            result.stderr.contains("line 2: the label contains a NUL character (U+0000 at position 4)"),
            "\(result.stderr)"
        )
        #expect(try await sandbox.listedIDs().isEmpty)
    }

    @Test(arguments: [
        (
            ["--project", "p\u{200B}1"],
            #""project" must not contain spaces or control characters (U+200B, an invisible format character, at position 2)"#
        ),
        (
            ["--project", "p1", "--waba", "10\u{2060}01"],
            #""waba" must not contain spaces or control characters (U+2060, an invisible format character, at position 3)"#
        ),
        (
            ["--project", "p1", "--label", "Ac\u{200F}me"],
            "the label contains an invisible format character (U+200F at position 3)"
        ),
        (
            ["--project", "p1", "--label", "\u{FEFF}Acme"],
            "the label contains an invisible format character (U+FEFF at position 1)"
        ),
    ])
    func anInvisibleFormatCharacterInADetailIsRefusedWithItsPosition(
        arguments: [String],
        message: String
    )
        async throws
    {
        let sandbox = try await CLISandbox()
        let result = try await sandbox.cli.run(["add"] + arguments, stdin: CLISecret.make() + "\n")
        #expect(result.status == 65, "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(try await sandbox.listedIDs().isEmpty)
    }

    /// Persian and Indic names, and emoji, need the zero-width joiners.
    @Test func aLabelMayHoldTheZeroWidthJoiners() async throws {
        let sandbox = try await CLISandbox()
        let label = "می\u{200C}خواهم 👩\u{200D}💻"
        let id = try await sandbox.add(CLISecret.make(), "--label", label)
        #expect(try await sandbox.listJSON().first { $0["id"]?.string == id }?["label"]?.string == label)
    }

    @Test(arguments: [
        ("\u{200B}", "the token contains an invisible format character (U+200B at position 11)"),
        ("\u{202E}", "the token contains an invisible format character (U+202E at position 11)"),
        ("\u{00A0}", "the token contains whitespace or control characters (U+00A0 at position 11)"),
        ("\u{3000}", "the token contains whitespace or control characters (U+3000 at position 11)"),
        ("\u{0085}", "the token contains whitespace or control characters (U+0085 at position 11)"),
    ])
    func aTokenWithAnInvisibleOrSpaceCharacterIsRefusedWithItsPosition(
        inside: String,
        message: String
    )
        async throws
    {
        let sandbox = try await CLISandbox()
        let (head, tail) = ("EAAsecret1", "EAAsecret2" + CLISecret.make())
        let added = try await sandbox.cli.run(["add", "--project", "p1"], stdin: head + inside + tail + "\n")
        #expect(added.status == 65, "\(added.stderr)")
        #expect(added.stderr.contains(message), "\(added.stderr)")
        #expect(!added.everything.contains(head) && !added.everything.contains(tail))
        let file = sandbox.directory.file("tokens.jsonl")
        try CLIFiles.write(#"{"project":"p1","token":"\#(head + inside + tail)"}"# + "\n", to: file)
        let imported = try await sandbox.run("import", file)
        #expect(imported.status == 65)
        #expect(imported.stderr.contains("line 1: " + message), "\(imported.stderr)")
        #expect(try await sandbox.listedIDs().isEmpty)
    }

    @Test(arguments: ["x", "EAA", "EAA1234"])
    func aTokenShorterThanEightCharactersIsRefused(token: String) async throws {
        let sandbox = try await CLISandbox()
        let result = try await sandbox.cli.run(["add", "--project", "p1"], stdin: token + "\n")
        #expect(result.status == 65)
        #expect(result.stderr.contains("the token is shorter than 8 characters"), "\(result.stderr)")
        try await sandbox.succeed("add", "--project", "p1", stdin: "EAA12345\n")
    }
}
