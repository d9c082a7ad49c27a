import Foundation
import Testing
import TokenKeeper
import TokenKeeperTesting

@Suite struct ImportTests {
    func line(_ index: Int, project: String = "p1") -> String {
        #"{"project":"\#(project)","token":"EAAimport\#(index)","label":"Customer \#(index)","waba":"\#(1_000 + index)"}"#
    }

    @Test(arguments: TestBackend.all)
    func importsEveryLineWithAnAddedAuditRowEach(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let text = (0..<10).map { line($0) }.joined(separator: "\n") + "\n"
        #expect(try fixture.importLines(text, batchSize: 3) == ImportSummary(imported: 10))
        let tokens = try fixture.allTokens()
        #expect(tokens.count == 10)
        #expect(Set(tokens.map(\.label)).count == 10)
        let events = try fixture.auditEvents()
        #expect(events.count == 10 && events.allSatisfy { $0.event == "added" })
        #expect(try fixture.inventory.verifyAudit() == .intact(count: 10, head: events.last!.hash))
        let first = try #require(tokens.first { $0.label == "Customer 3" })
        #expect(try fixture.inventory.reveal(id: first.id) == "EAAimport3")
        #expect(first.wabaID == "1003")
    }

    @Test(arguments: TestBackend.all)
    func aTokenRepeatedInALaterBatchIsRefusedAtItsLine(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let text = [line(1), line(2), line(3), line(1)].joined(separator: "\n")
        #expect {
            try fixture.importLines(text, batchSize: 2)
        } throws: { error in
            (error as? TokenKeeperError)?.message
                == "line 4: the same token as an earlier line; nothing was imported (--skip-existing imports the other lines)"
        }
        #expect(try fixture.allTokens().isEmpty)
    }

    @Test(arguments: TestBackend.all)
    func expiresAtSetsTheExpiry(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let expiry = fixture.clock.now + .seconds(10 * 86_400)
        _ = try fixture.importLines(#"{"project":"p","token":"EAAx0001","expires_at":"\#(RFC3339.format(expiry))"}"#)
        #expect(try fixture.allTokens().first?.expiresAt == expiry)
    }

    @Test func blankLinesAndCRLFAreAccepted() throws {
        let fixture = try StoreFixture()
        #expect(try fixture.importLines("\n" + line(1) + "\r\n\n   \n" + line(2)) == ImportSummary(imported: 2))
    }

    @Test(
        arguments: TestBackend.all,
        [
            ("{\"project\":\"p\",\"token\":", "not valid JSON"),
            (#"{"project":"p"}"#, "missing \"token\""),
            (#"{"token":"EAAx0001"}"#, "missing \"project\""),
            (#"{"project":"p","token":"EAAx0001","expires":"2030-01-01T00:00:00Z"}"#, "unknown field \"expires\""),
            (#"{"project":"p","token":"EAAx0001","expires_at":"next week"}"#, "expires_at"),
            (#"{"project":"p","token":"EAAx0001","expires_at":"2001-01-01T00:00:00Z"}"#, "in the past"),
            (#"{"project":"p","token":42}"#, "\"token\" must be a string"),
            (#"{"project":"p","token":""}"#, "empty"),
            (#"["project","token"]"#, "not a JSON object"),
        ]
    )
    func oneBadLineImportsNothingAndNamesItsLine(_ backend: TestBackend, case: (bad: String, says: String)) throws {
        let (bad, says) = `case`
        let fixture = try StoreFixture(backend)
        _ = try fixture.inventory.add(token: "EAAexisting", NewToken(project: "p0"))
        // The bad line sits after a full batch, so earlier batches were already inserted.
        let lines = (0..<7).map { line($0) } + [bad] + (7..<9).map { line($0) }
        #expect {
            try fixture.importLines(lines.joined(separator: "\n"), batchSize: 3)
        } throws: { error in
            guard let error = error as? TokenKeeperError else { return false }
            return error.code == .invalidInput && error.code.exitCode == 65 && error.message.hasPrefix("line 8: ")
                && error.message.contains(says) && !error.message.contains("EAAx0001")
        }
        #expect(try fixture.allTokens().count == 1)
        #expect(try fixture.auditEvents().count == 1)
    }

    @Test func errorsNeverQuoteTheToken() throws {
        let fixture = try StoreFixture()
        #expect {
            try fixture.importLines(#"{"project":"p","token":"EAA secret with spaces"}"#)
        } throws: { error in
            !"\(error)".contains("secret")
        }
    }

    @Test func lineReaderSplitsAcrossChunkBoundariesAndKeepsLineNumbers() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("lines.txt")
        // Lines that straddle the reader's 1 MiB chunks.
        let lines = (0..<40_000).map { String(repeating: "x", count: $0 % 97) + "\($0)" }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let descriptor = open(path, O_RDONLY)
        defer { close(descriptor) }
        var reader = LineReader(descriptor: descriptor)
        var count = 0
        while let line = try reader.next() {
            #expect(String(decoding: line, as: UTF8.self) == lines[count])
            count += 1
            #expect(reader.lineNumber == count)
        }
        #expect(count == lines.count)
    }

    @Test func anOverlongLineIsRefusedNotBuffered() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("long.txt")
        try ("short\n" + String(repeating: "y", count: 100_000) + "\n").write(
            toFile: path,
            atomically: true,
            encoding: .utf8
        )
        let descriptor = open(path, O_RDONLY)
        defer { close(descriptor) }
        var reader = LineReader(descriptor: descriptor, maximumLineLength: 1_000)
        let first = try reader.next().map { String(decoding: $0, as: UTF8.self) }
        #expect(first == "short")
        #expect {
            try reader.next()
        } throws: { error in
            (error as? TokenKeeperError)?.message.contains("line 2") == true
        }
    }
}
