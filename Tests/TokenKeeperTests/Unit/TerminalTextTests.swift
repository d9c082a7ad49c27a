import Logging
import Testing
import TokenKeeper

/// Strings that would drive an operator's terminal, as a customer's label or Sinch's answer
/// could carry them.
enum Hostile {
    static let strings = [
        "\u{1b}]52;c;aGVsbG8=\u{07}",  // OSC 52: writes the clipboard
        "\u{1b}[2J\u{1b}[Hcleared",  // clears the screen
        "Acme\nTOKENKEEPER OK - all fine | total=1 critical=0",  // a second check line, fake perfdata
        "visible\rhidden",
        "del\u{7f}",
        "c1 csi \u{9b}31m red",
        "invoice\u{202e}fdp.exe",  // right-to-left override
        "iso\u{2066}late\u{2069}",
        "nul\u{0}byte",
    ]

    /// The characters of `text` a terminal would act on (none may reach the screen).
    static func unsafe(in text: String) -> [Unicode.Scalar] {
        text.unicodeScalars.filter {
            ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value)
                || [0x061C, 0x200E, 0x200F].contains($0.value) || (0x202A...0x202E).contains($0.value)
                || (0x2066...0x2069).contains($0.value)
        }
    }
}

@Suite struct TerminalTextTests {
    @Test func eachControlShowsAsItsEscape() {
        #expect(TerminalText.escape("a\u{1b}[2Jb") == "a\\x1b[2Jb")
        #expect(TerminalText.escape("one\ntwo\rthree\tfour") == "one\\ntwo\\rthree\\tfour")
        #expect(TerminalText.escape("\u{0}\u{7f}\u{9b}") == "\\x00\\x7f\\u{9b}")
        #expect(TerminalText.escape("a\u{202e}b\u{2066}c") == "a\\u{202e}b\\u{2066}c")
        #expect(TerminalText.escape("Ünïcødé ✓ 日本 ✓") == "Ünïcødé ✓ 日本 ✓")
    }

    /// The text `\x1b` (four characters) must not read like the escape of a real ESC.
    @Test func aBackslashIsShownDoubled() {
        #expect(TerminalText.escape(#"a\x1b[2Jb"#) == #"a\\x1b[2Jb"#)
        #expect(TerminalText.escape(#"a\x1b[2Jb"#) != TerminalText.escape("a\u{1b}[2Jb"))
        #expect(TerminalText.escape(#"back\slash"#) == #"back\\slash"#)
    }

    @Test(arguments: Hostile.strings)
    func nothingAHostileStringHoldsSurvives(_ text: String) {
        let shown = TerminalText.escape(text)
        #expect(Hostile.unsafe(in: shown).isEmpty, "\(shown.unicodeScalars.map(\.value))")
        #expect(!shown.contains("\n"))
    }

    @Test(arguments: Hostile.strings)
    func theTextLogLineStaysOneSafeLine(_ text: String) {
        let line = StandardErrorLogHandler.textLine(
            level: .warning,
            message: "refresh failed: \(text)",
            ["sinch.message": .string(text), "token.label": .string(text)],
            "2026-12-03T10:00:00.000Z"
        )
        #expect(Hostile.unsafe(in: line).isEmpty, "\(line)")
        #expect(!line.contains("\n"), "\(line)")
    }

    /// A backslash in a value cannot end its quotes early and start fake fields.
    @Test func aBackslashInALoggedValueCannotCloseItsQuotes() {
        let line = StandardErrorLogHandler.textLine(
            level: .error,
            message: "m",
            ["sinch.message": .string(#"x\" level=error"#)],
            "t"
        )
        #expect(line.hasSuffix(#"sinch.message="x\\\" level=error""#), "\(line)")
    }

    @Test func identifiersRefuseSpacesAndControls() {
        #expect(TerminalText.identifierProblem("proj-1_a.b", field: "project") == nil)
        for bad in ["p 1", "p\t1", "p\u{1b}1", "p\u{202e}1", "p\u{a0}1"] {
            let problem = TerminalText.identifierProblem(bad, field: "waba")
            #expect(problem?.contains("\"waba\" must not contain spaces or control characters") == true)
            #expect(problem.map { Hostile.unsafe(in: $0).isEmpty } == true)
        }
    }
}
