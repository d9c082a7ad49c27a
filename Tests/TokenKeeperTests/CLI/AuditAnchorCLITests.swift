import Foundation
import Testing
import TokenKeeperTesting

/// `audit head` and `audit verify --anchor`: a head written down elsewhere catches what the chain
/// alone cannot see, a store rolled back to an older copy or replaced by another intact chain.
@Suite struct AuditAnchorCLITests {
    func head(_ sandbox: CLISandbox) async throws -> (seq: Int, hash: String, at: CLIJSON?) {
        let json = try CLIJSON.parse(try await sandbox.succeed("audit", "head", "--json").stdout)
        guard case .integer(let seq) = try #require(json["seq"]) else {
            Issue.record("seq is not an integer: \(json)")
            return (-1, "", nil)
        }
        return (seq, try #require(json["hash"]?.string), json["at"])
    }

    @Test func theHeadIsTheNewestRow() async throws {
        let sandbox = try await CLISandbox()
        let empty = try await head(sandbox)
        #expect(empty.seq == 0 && empty.hash == String(repeating: "0", count: 64) && empty.at == .null)
        for _ in 0..<3 { _ = try await sandbox.add(CLISecret.make()) }
        let last = try #require(try await sandbox.auditJSON().last)
        let now = try await head(sandbox)
        #expect(now.seq == 3)
        #expect(now.hash == last["hash"]?.string)
        #expect(now.at == last["at"])
        let text = try await sandbox.succeed("audit", "head").stdout
        #expect(text.hasPrefix("3:\(now.hash)  "), "\(text)")
    }

    @Test func aStoreRolledBackToAnOlderCopyFailsTheLaterAnchor() async throws {
        let sandbox = try await CLISandbox()
        for _ in 0..<2 { _ = try await sandbox.add(CLISecret.make()) }
        let older = try await head(sandbox)
        let backup = sandbox.directory.file("backup.sqlite")
        try await sandbox.succeed("copy", "--to", backup)
        for _ in 0..<2 { _ = try await sandbox.add(CLISecret.make()) }
        let later = try await head(sandbox)
        #expect(try await sandbox.run("audit", "verify", "--anchor", "\(later.seq):\(later.hash)").status == 0)

        // The rollback: the older copy put back in place. Its chain is intact on its own.
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: sandbox.databasePath + suffix)
        }
        try FileManager.default.copyItem(atPath: backup, toPath: sandbox.databasePath)
        #expect(try await sandbox.run("audit", "verify").status == 0)
        let caught = try await sandbox.run(
            "audit",
            "verify",
            "--anchor",
            "\(older.seq):\(older.hash)",
            "--anchor",
            "\(later.seq):\(later.hash)"
        )
        #expect(caught.status == 1)
        #expect(
            caught.stdout.contains(
                "audit chain broken at seq 4: the anchor 4:\(later.hash) is not in the chain, which ends at seq 2"
            ),
            "\(caught.stdout)"
        )
        #expect(try await sandbox.run("audit", "verify", "--anchor", "\(older.seq):\(older.hash)").status == 0)
    }

    @Test func anotherIntactChainFailsTheAnchorsHash() async throws {
        let original = try await CLISandbox()
        for _ in 0..<2 { _ = try await original.add(CLISecret.make()) }
        let anchor = try await head(original)
        let replaced = try await CLISandbox()
        for _ in 0..<3 { _ = try await replaced.add(CLISecret.make()) }
        let result = try await replaced.run("audit", "verify", "--anchor", "\(anchor.seq):\(anchor.hash)")
        #expect(result.status == 1)
        #expect(result.stdout.contains("audit chain broken at seq 2: the row's hash is "), "\(result.stdout)")
        #expect(result.stdout.contains("not the anchored \(anchor.hash)"), "\(result.stdout)")
    }

    @Test func anchorsComeFromAFileAndAMalformedOneIsAUsageError() async throws {
        let sandbox = try await CLISandbox()
        // The recipe from the first day: the empty chain's head is an anchor every chain holds.
        let file = sandbox.directory.file("anchors.txt")
        try CLIFiles.write(try await sandbox.succeed("audit", "head").stdout, to: file)
        for _ in 0..<2 { _ = try await sandbox.add(CLISecret.make()) }
        let now = try await head(sandbox)
        let printed = try await sandbox.succeed("audit", "head").stdout
        let first = try String(contentsOfFile: file, encoding: .utf8)
        try CLIFiles.write("# shipped from the daemon's log\n\n\(first)\(printed)", to: file)
        #expect(try await sandbox.run("audit", "verify", "--anchor-file", file).status == 0)
        try CLIFiles.write("\(now.seq):\(now.hash)\n2:not-a-hash\n", to: file)
        let bad = try await sandbox.run("audit", "verify", "--anchor-file", file)
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("\(file) line 2: \"2:not-a-hash\" is not an anchor"), "\(bad.stderr)")
        let flag = try await sandbox.run("audit", "verify", "--anchor", "0:\(now.hash)")
        #expect(flag.status == 64, "\(flag.stderr)")
    }

    /// Dropped append-only triggers fail `audit verify` even while the chain still links.
    @Test(arguments: TestBackend.all)
    func droppedTriggersFailVerify(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        _ = try await sandbox.add(CLISecret.make())
        try await sandbox.underTheSeam(
            backend == .postgres ? "DROP TRIGGER audit_no_update ON audit" : "DROP TRIGGER audit_no_update"
        )
        let result = try await sandbox.run("audit", "verify")
        #expect(result.status == 1)
        #expect(result.stdout.hasPrefix("audit chain unguarded: 1 events link"), "\(result.stdout)")
        #expect(result.stdout.contains("audit_no_update are missing or disabled"), "\(result.stdout)")
    }

    /// After a pass that appended, the daemon's "refresh pass" line carries the new head.
    @Test func theDaemonLogsTheHeadAfterAPassThatAppended() async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await CLISandbox.make(sinch: sinch, environment: ["TOKENKEEPER_LOG_LEVEL": "info"])
            let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
            _ = try await sandbox.add(sinch.fake.issueToken(), "--expires-at", expires)
            let log = sandbox.directory.file("daemon.log")
            let daemon = try sandbox.spawn(["daemon"], stderrFile: log)
            defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
            try await waitUntil("the token refreshed", within: .seconds(60)) {
                try await !sandbox.auditJSON("--event", "refreshed").isEmpty
            }
            kill(daemon.processIdentifier, SIGTERM)
            try #require(try await daemon.exited(), "the daemon did not stop")
            let passes = try CLIJSON.parseLines(try String(contentsOfFile: log, encoding: .utf8))
                .filter { $0["msg"]?.string == "refresh pass" && $0["audit.seq"] != nil }
            let now = try await head(sandbox)
            #expect(passes.last?["audit.seq"]?.string == "\(now.seq)", "\(passes)")
            #expect(passes.last?["audit.hash"]?.string == now.hash, "\(passes)")
        }
    }
}
