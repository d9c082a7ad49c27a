import FakeSinch
import Foundation
import Testing
import TokenKeeperTesting

/// Every printer a person reads, fed the strings of ``Hostile``: labels from customers, answers
/// from Sinch. Nothing that could drive a terminal reaches standard output or standard error.
@Suite struct HostileStringsCLITests {
    @Test(arguments: TestBackend.all)
    func labelsAreShownEscapedByEveryPrinter(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let soon = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
        var ids: [String] = []
        // An argument cannot hold NUL (argv is C strings), and `add` refuses invisible format
        // characters (the bidi marks among them); every other hostile string is stored.
        let labels = Hostile.strings.filter {
            !$0.contains("\0") && !$0.unicodeScalars.contains { $0.properties.generalCategory == .format }
        }
        for label in labels {
            ids.append(try await sandbox.add(CLISecret.make(), "--label", label, "--expires-at", soon))
        }
        var outputs = [
            try await sandbox.run("list"), try await sandbox.run("list", "--expiring-within", "7d"),
            try await sandbox.run("audit"),
        ]
        for id in ids { outputs.append(try await sandbox.run("show", id)) }
        let check = try await sandbox.run("check")
        outputs.append(check)
        for result in outputs {
            #expect(Hostile.unsafe(in: result.everything).isEmpty, "\(result.everything)")
        }
        // The label's escape is shown, and check stays one status line with one perfdata part.
        let shown = try await sandbox.run("show", ids[0])
        #expect(shown.stdout.contains("\\x1b]52;c;aGVsbG8=\\x07"), "\(shown.stdout)")
        #expect(check.status == 2, "\(check.stdout)")
        #expect(check.stdout.split(separator: "\n").count == 1, "\(check.stdout)")
        #expect(check.stdout.split(separator: "|").count == 2, "\(check.stdout)")
        #expect(check.stdout.hasPrefix("TOKENKEEPER CRITICAL - "), "\(check.stdout)")
        // JSON stays JSON: the label comes back exactly as given.
        #expect(Set(try await sandbox.listJSON().compactMap { $0["label"]?.string }) == Set(labels))
    }

    @Test func projectAndWABAIdsWithSpacesOrControlsAreRefusedAtInput() async throws {
        let sandbox = try await CLISandbox()
        for (flag, value, field) in [
            ("--project", "p 1", "project"), ("--project", "p\u{1b}[2J", "project"),
            ("--waba", "1234\n5678", "waba"), ("--waba", "12\u{202e}34", "waba"),
        ] {
            var arguments = ["add", flag, value]
            if flag != "--project" { arguments += ["--project", "p1"] }
            let result = try await sandbox.cli.run(arguments, stdin: CLISecret.make() + "\n")
            #expect(result.status == 65, "\(result.stderr)")
            #expect(result.stderr.contains("\"\(field)\" must not contain spaces or control characters"))
            #expect(Hostile.unsafe(in: result.everything).isEmpty, "\(result.everything)")
        }
        let file = sandbox.directory.file("hostile.jsonl")
        try CLIFiles.write(
            #"{"project":"p1","token":"\#(CLISecret.make())"}"# + "\n"
                + #"{"project":"p1","waba":"1 2","token":"\#(CLISecret.make())"}"# + "\n",
            to: file
        )
        let imported = try await sandbox.run("import", file)
        #expect(imported.status == 65)
        #expect(imported.stderr.contains("line 2: \"waba\" must not contain spaces"), "\(imported.stderr)")
        #expect(try await sandbox.listJSON().isEmpty)
    }

    /// The text `\x1b` in a label is four characters, and must not read like the escape of a
    /// real ESC: the backslash is shown doubled.
    @Test func aLabelThatSpellsAnEscapeIsShownWithItsBackslashDoubled() async throws {
        let sandbox = try await CLISandbox()
        let id = try await sandbox.add(CLISecret.make(), "--label", #"Acme\x1b[2J"#)
        for result in [try await sandbox.run("show", id), try await sandbox.run("list")] {
            #expect(result.stdout.contains(#"Acme\\x1b[2J"#), "\(result.stdout)")
        }
        #expect(try await sandbox.listJSON().first?["label"]?.string == #"Acme\x1b[2J"#)
    }

    /// A WABA named after the token (a bug at Sinch, or a hostile fake): scrubbed as errors are.
    @Test func aTokenSinchEchoesInAWABAIsNotShown() async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await CLISandbox.make(sinch: sinch)
            let token = sinch.fake.issueToken()
            let id = try await sandbox.add(token)
            let document: [String: Any] = [
                "wabas": [
                    [
                        "id": "1001", "name": "Acme \(token)",
                        "numbers": [["id": "2002", "displayPhoneNumber": "+1 555 \(token)", "provisioned": true]],
                    ]
                ]
            ]
            let body = String(decoding: try JSONSerialization.data(withJSONObject: document), as: UTF8.self)
            sinch.fake.inject(FakeSinchFaultRule(.json(status: 200, body: body), endpoint: .wabaDetails, count: 2))
            for arguments in [["wabas", id], ["wabas", id, "--json"]] {
                let wabas = try await sandbox.cli.run(arguments)
                #expect(wabas.status == 0, "\(wabas.stderr)")
                #expect(!wabas.everything.contains(token), "\(arguments)")
                #expect(!wabas.everything.contains(String(token.prefix(24))), "\(arguments)")
                #expect(wabas.stdout.contains("Acme [redacted]"), "\(wabas.stdout)")
                #expect(wabas.stdout.contains("1001"), "\(wabas.stdout)")
            }
        }
    }

    /// Sinch's own strings: WABA names and numbers in `wabas`, an error code in the error line.
    @Test func sinchsStringsAreShownEscaped() async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await CLISandbox.make(sinch: sinch)
            let id = try await sandbox.add(sinch.fake.issueToken())
            let hostile = Hostile.strings.joined(separator: " ")
            let document: [String: Any] = [
                "wabas": [
                    [
                        "id": "1\u{1b}[2J", "name": hostile,
                        "numbers": [["id": "2\u{7}", "displayPhoneNumber": hostile, "provisioned": true]],
                    ]
                ]
            ]
            let body = String(decoding: try JSONSerialization.data(withJSONObject: document), as: UTF8.self)
            sinch.fake.inject(FakeSinchFaultRule(.json(status: 200, body: body), endpoint: .wabaDetails, count: 1))
            let wabas = try await sandbox.run("wabas", id)
            #expect(wabas.status == 0, "\(wabas.stderr)")
            #expect(wabas.stdout.contains("WABA 1\\x1b[2J"), "\(wabas.stdout)")
            #expect(Hostile.unsafe(in: wabas.everything).isEmpty, "\(wabas.everything)")

            sinch.fake.inject(
                FakeSinchFaultRule(.error(status: 400, code: "bad\u{1b}]52;c;aGk=\u{7}\nnext"), endpoint: .wabaDetails)
            )
            let failed = try await sandbox.run("wabas", id)
            #expect(failed.status != 0)
            // The client drops controls from Sinch's codes and messages already; the line stays one.
            #expect(failed.stderr.contains("]52;c;aGk="), "\(failed.stderr)")
            #expect(failed.stderr.split(separator: "\n").count == 1, "\(failed.stderr)")
            #expect(Hostile.unsafe(in: failed.everything).isEmpty, "\(failed.everything)")
        }
    }
}
