import FakeSinch
import Foundation
import Testing
import TokenKeeperTesting

/// `copy` beside a running daemon: each copy is one consistent read of a store that keeps
/// changing (<doc:CLIContract#copy>).
@Suite struct CopyWhileRefreshingCLITests {
    @Test(.timeLimit(.minutes(4)), arguments: TestBackend.all)
    func copiesTakenWhileADaemonRefreshesAreEachOneConsistentRead(_ backend: TestBackend) async throws {
        // A 12 s lifetime refreshed 6 s before expiry, first expiries a second apart: each token
        // every ~6 s, about two commits a second for the copies to land among.
        let configuration = FakeSinchConfiguration(tokenLifetime: .seconds(12))
        try await SinchHarness.with(configuration) { sinch in
            var source = try await CLISandbox.make(
                sinch: sinch,
                environment: [
                    "TOKENKEEPER_LIFETIME": "12s", "TOKENKEEPER_RENEW_BEFORE": "6s", "TOKENKEEPER_MIN_AGE": "1s",
                    "TOKENKEEPER_JITTER": "0s", "TOKENKEEPER_RATE": "1000",
                ],
                backend: backend
            )
            // This test races real time: its runs never wait behind other tests' runs (a queued
            // `add` once waited past its token's expiry).
            source.cli.queued = false
            // Each expiry from the moment of its own `add`: in a busy suite twelve runs of it once
            // took longer than the first expiries, which `add` then refused as past.
            for index in 0..<12 {
                let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(Double(10 + index)))
                _ = try await source.add(sinch.fake.issueToken(), "--expires-at", expires)
            }
            let daemon = try await source.startDaemon()
            defer { if daemon.process.isRunning { kill(daemon.process.processIdentifier, SIGKILL) } }
            try await waitUntil("the daemon's first refreshes", within: .seconds(60)) {
                try await source.auditJSON("--event", "refreshed").count >= 3
            }

            var copies: [CLISandbox] = []
            // Copies until three of them saw different moments (a busy machine may slow the
            // daemon between two), at most ten.
            var moments: Set<String> = []
            while moments.count < 3, copies.count < 10 {
                let target = CLISandbox(uninitializedWith: ["TOKENKEEPER_MASTER_KEY_FILE": source.keyFilePath])
                let result = try await source.cli.run(["copy", "--to", target.databaseLocation, "--json"])
                try #require(result.status == 0, "copy beside a daemon: \(result.stderr)")
                copies.append(target)
                moments.insert(try CLIJSON.parse(result.stdout)["audit_head"]?.string ?? "")
                try await Task.sleep(for: .milliseconds(1500))
            }
            try await daemon.process.terminateGracefully(within: .seconds(30))
            let history = try await source.auditJSON()

            for target in copies {
                let audit = try await target.auditJSON()
                // The copy's chain is the source's chain up to a moment: a prefix, row for row.
                #expect(audit == Array(history.prefix(audit.count)), "the copy's audit is a prefix of the source's")
                #expect(try await target.run("audit", "verify").status == 0)
                // ... and its tokens are the tokens of that same moment: each holds the value its
                // last audited change put there.
                var lastFingerprint: [String: String] = [:]
                for event in audit {
                    guard let token = event["token"]?.string, let detail = event["detail"] else { continue }
                    if let value = detail["new_fingerprint"]?.string ?? detail["fingerprint"]?.string {
                        lastFingerprint[token] = value
                    }
                }
                let listed = try await target.listJSON()
                #expect(listed.count == 12)
                for token in listed {
                    let id = try #require(token["id"]?.string)
                    #expect(token["fingerprint"]?.string == lastFingerprint[id], "\(id): tokens and audit of one read")
                }
                // Every sealed value opens under the key (in process: `get` runs are slow in a
                // busy suite); the values may have died at FakeSinch since their moment.
                let inventory = try target.keyedInventory()
                var opened = 0
                try inventory.forEachToken(matching: .init()) { record in
                    _ = try inventory.unsealed(record)
                    opened += 1
                }
                #expect(opened == 12)
            }
            // Not vacuous: the daemon committed between the copies.
            #expect(moments.count >= 3, "copies of \(moments.count) different moments")
        }
    }
}
