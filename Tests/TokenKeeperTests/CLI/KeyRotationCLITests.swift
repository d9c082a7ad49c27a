import FakeSinch
import Foundation
import Testing
import TokenKeeperTesting

@testable import TokenKeeper

/// `key list`, `key rotate` and `key retire` through the binary: the keyring file, the tokens
/// re-sealed under the new key, the audit, and a rotation killed midway beside a daemon.
@Suite struct KeyRotationCLITests {
    /// The sandbox's key file as the tool reads it.
    static func ring(_ sandbox: CLISandbox) throws -> Keyring {
        let path = sandbox.keyFilePath
        return try Keyring(fileText: try String(contentsOfFile: path, encoding: .utf8), source: .file(path))
    }

    /// `key list --json`, one object a key.
    static func keys(_ sandbox: CLISandbox, _ cli: CLI? = nil) async throws -> [CLIJSON] {
        let result = try await (cli ?? sandbox.cli).run(["key", "list", "--json"])
        try #require(result.status == 0, "key list exited \(result.status): \(result.stderr)")
        return try #require(try CLIJSON.parse(result.stdout).array)
    }

    static func tokens(_ key: CLIJSON?) -> Int? {
        if case .integer(let count)? = key?["tokens"] { count } else { nil }
    }

    /// Every base64 value of the key file (keys and fingerprint key), to grep output for.
    static func secrets(in path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("#") }.compactMap { $0.split(separator: " ").last.map(String.init) }
    }

    /// How many of `secrets` appear in `text` (a count, so a failure never prints a key).
    static func leaked(_ secrets: [String], in text: String) -> Int { secrets.count { text.contains($0) } }

    /// Expects `get ID` to print each token, compared in process (a failure names only the id).
    static func expectOpen(_ tokens: [String: String], _ sandbox: CLISandbox, _ cli: CLI? = nil) async throws {
        for (id, token) in tokens {
            let result = try await (cli ?? sandbox.cli).run(["get", id])
            let same = result.stdout == token + "\n"
            #expect(result.status == 0 && same, "get \(id) exited \(result.status) without its token")
        }
    }

    static func addTokens(_ count: Int, _ sandbox: CLISandbox) async throws -> [String: String] {
        var tokens: [String: String] = [:]
        for index in 0..<count {
            let token = CLISecret.make()
            tokens[try await sandbox.add(token, project: "p\(index % 2 + 1)")] = token
        }
        return tokens
    }

    @Test(arguments: TestBackend.all)
    func rotateResealsEveryTokenUnderANewKeyAndNeverPrintsAKey(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let tokens = try await Self.addTokens(4, sandbox)
        let oldID = try Self.ring(sandbox).currentID
        let legacySecrets = try Self.secrets(in: sandbox.keyFilePath)

        let rotate = try await sandbox.succeed("key", "rotate")

        let ring = try Self.ring(sandbox)
        let newID = ring.currentID
        #expect(ring.entries.map(\.id) == [oldID, newID] && newID != oldID)
        #expect(rotate.stdout == "rotated to the new key \(newID): re-sealed 4 tokens\n")
        let keys = try await Self.keys(sandbox)
        #expect(keys.count == 2)
        #expect(
            keys.first
                == .object(["id": .string(oldID), "created_at": .null, "current": .bool(false), "tokens": .integer(0)])
        )
        #expect(keys.last?["id"]?.string == newID && keys.last?["current"] == .bool(true))
        #expect(Self.tokens(keys.last) == 4)
        #expect(keys.last?["created_at"]?.string.map(CLITime.isUTCStamp) == true)
        // Every sealed value names the new key, and opens.
        let inventory = try sandbox.keyedInventory()
        try inventory.forEachToken(matching: .init()) { record in
            #expect(TokenSealer.keyID(ofSealed: record.sealedToken) == newID, "\(record.id) not under the new key")
        }
        try await Self.expectOpen(tokens, sandbox)

        // The keyring form, written 0600 by a rename (no temporary file left).
        let text = try String(contentsOfFile: sandbox.keyFilePath, encoding: .utf8)
        let lines = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(lines.count == 3 && lines[0].hasPrefix("fingerprint-key "))
        #expect(lines[1].hasPrefix("key \(oldID) - previous "))
        #expect(lines[2].hasPrefix("key \(newID) ") && lines[2].contains(" current "))
        #expect(try CLIFiles.mode(sandbox.keyFilePath) == 0o600)
        let folder = (sandbox.keyFilePath as NSString).deletingLastPathComponent
        let left = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains(".new") }
        #expect(left.isEmpty, "the rotation left \(left) behind")
        let secrets = try Self.secrets(in: sandbox.keyFilePath)
        let keptTheOldKey = secrets.count == 3 && Set(legacySecrets).isSubset(of: secrets)
        #expect(keptTheOldKey, "the keyring does not hold the fingerprint key and both keys")

        let events = try await sandbox.auditJSON("--event", "key_rotated")
        #expect(events.count == 1)
        #expect(events.first?["detail"]?["key_id"]?.string == newID)
        #expect(events.first?["detail"]?["tokens"] == .integer(4))
        #expect(events.first?["detail"]?["note"]?.string?.contains(oldID) == true)
        let verify = try await sandbox.succeed("audit", "verify")
        #expect(verify.stdout.contains("audit chain intact") && verify.stdout.contains("seal verified"))
        // No key's bytes anywhere the tool wrote: not the audit, not its output.
        var written = rotate.everything + verify.everything
        written += try await sandbox.succeed("audit", "--json").stdout
        written += try await sandbox.succeed("key", "list").everything
        written += try await sandbox.succeed("key", "list", "--json").everything
        written += try await sandbox.underTheSeam("SELECT * FROM audit")
        #expect(Self.leaked(secrets, in: written) == 0, "a key's base64 was printed or audited")
    }

    @Test(arguments: TestBackend.all)
    func aTokenStoredBeforeRotationIsStillRefusedAsADuplicate(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let token = CLISecret.make()
        let id = try await sandbox.add(token)
        let legacy = try Self.ring(sandbox)
        try await sandbox.succeed("key", "rotate")
        try await sandbox.succeed("key", "rotate")
        let rotated = try Self.ring(sandbox)
        #expect(rotated.entries.count == 3)
        // The fingerprint key is the store's first across rotations.
        let probe = CLISecret.make()
        #expect(TokenSealer(keyring: rotated).fingerprint(probe) == TokenSealer(keyring: legacy).fingerprint(probe))

        let again = try await sandbox.run("add", "--project", "p2", stdin: token + "\n")
        #expect(again.status == 65)
        #expect(again.stderr.contains("already stored as \(id)"), "\(again.stderr)")
        let file = sandbox.directory.file("again.jsonl")
        try CLIFiles.write(#"{"project":"p1","token":"\#(token)"}"# + "\n", to: file)
        let imported = try await sandbox.run("import", file)
        #expect(imported.status == 65)
        #expect(imported.stderr.contains("line 1: this token is already stored as \(id)"), "\(imported.stderr)")
        // A token added under the new key is found again too.
        let later = CLISecret.make()
        let laterID = try await sandbox.add(later)
        let twice = try await sandbox.run("add", "--project", "p1", stdin: later + "\n")
        #expect(twice.status == 65 && twice.stderr.contains("already stored as \(laterID)"), "\(twice.stderr)")
        #expect(try await Set(sandbox.listedIDs()) == [id, laterID])
    }

    @Test(arguments: TestBackend.all)
    func retireRemovesTheOldKeyAndRefusesTheCurrentOneAndAnUnknownID(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let tokens = try await Self.addTokens(3, sandbox)
        try await sandbox.succeed("key", "rotate")
        let ring = try Self.ring(sandbox)
        let (oldID, newID) = (ring.entries[0].id, ring.currentID)
        let oldSecret = ring.entries[0].base64
        let before = CLIFiles.bytes(sandbox.keyFilePath)

        let current = try await sandbox.run("key", "retire", newID)
        #expect(current.status == 65)
        #expect(current.stderr.contains("key \(newID) is the current key"), "\(current.stderr)")
        let unknown = try await sandbox.run("key", "retire", "0123456789abcdef")
        #expect(unknown.status == 65)
        #expect(unknown.stderr.contains("no key 0123456789abcdef"), "\(unknown.stderr)")
        let unchanged = CLIFiles.bytes(sandbox.keyFilePath) == before
        #expect(unchanged, "a refused retire changed the key file")
        #expect(try await sandbox.auditJSON("--event", "key_retired").isEmpty)

        let retired = try await sandbox.succeed("key", "retire", oldID)
        #expect(retired.stdout == "retired key \(oldID)\n")
        #expect(try await Self.keys(sandbox).compactMap { $0["id"]?.string } == [newID])
        let after = try Self.ring(sandbox)
        #expect(after.entries.map(\.id) == [newID])
        #expect(Self.leaked([oldSecret], in: try String(contentsOfFile: sandbox.keyFilePath, encoding: .utf8)) == 0)
        #expect(try CLIFiles.mode(sandbox.keyFilePath) == 0o600)
        try await Self.expectOpen(tokens, sandbox)
        let events = try await sandbox.auditJSON("--event", "key_retired")
        #expect(events.count == 1 && events.first?["detail"]?["key_id"]?.string == oldID)
        #expect(try await sandbox.run("audit", "verify").status == 0)
        #expect(try await sandbox.run("key", "retire", oldID).status == 65, "a retired key is unknown")
    }

    @Test(arguments: TestBackend.all)
    func aKeyThatStillSealsTokensIsNotRetiredAndTheNextRotateFinishesTheJob(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let tokens = try await Self.addTokens(3, sandbox)
        // A keyring whose new key is current while every token is under the old one: a rotation
        // stopped right after it wrote its keyring.
        let ring = try Self.ring(sandbox).rotated(at: UnixTime(Date()))
        try ring.write(replacing: sandbox.keyFilePath)
        let (oldID, newID) = (ring.entries[0].id, ring.currentID)
        let before = CLIFiles.bytes(sandbox.keyFilePath)
        let keys = try await Self.keys(sandbox)
        #expect(keys.map(Self.tokens) == [3, 0] && keys.last?["current"] == .bool(true))

        let refused = try await sandbox.run("key", "retire", oldID)
        #expect(refused.status == 65)
        #expect(refused.stderr.contains("key \(oldID) still seals 3 tokens"), "\(refused.stderr)")
        let unchanged = CLIFiles.bytes(sandbox.keyFilePath) == before
        #expect(unchanged, "a refused retire changed the key file")
        #expect(try await sandbox.auditJSON("--event", "key_retired").isEmpty)
        try await Self.expectOpen(tokens, sandbox)

        // rotate finishes that rotation instead of adding a key.
        let finish = try await sandbox.succeed("key", "rotate")
        #expect(finish.stdout == "finished the rotation to key \(newID): re-sealed 3 tokens\n")
        #expect(try Self.ring(sandbox).entries.map(\.id) == [oldID, newID])
        #expect(try await Self.keys(sandbox).map(Self.tokens) == [0, 3])
        try await sandbox.succeed("key", "retire", oldID)
        try await Self.expectOpen(tokens, sandbox)
        #expect(try await sandbox.succeed("audit", "verify").stdout.contains("seal verified"))
    }

    @Test(arguments: TestBackend.all)
    func aKeyOnlyInTheEnvironmentCannotBeRotatedOrRetired(_ backend: TestBackend) async throws {
        let key = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let sandbox = try await CLISandbox(environment: ["TOKENKEEPER_MASTER_KEY": key], backend: backend)
        let tokens = try await Self.addTokens(1, sandbox)
        let id = try Keyring(single: MasterKey(base64: key, source: .environment)).currentID

        let rotate = try await sandbox.run("key", "rotate")
        #expect(rotate.status == 64)
        #expect(rotate.stderr.contains("keyring file") && rotate.stderr.contains("TOKENKEEPER_MASTER_KEY"))
        let retire = try await sandbox.run("key", "retire", id)
        #expect(retire.status == 64)
        #expect(retire.stderr.contains("keyring file"), "\(retire.stderr)")
        #expect(Self.leaked([key], in: rotate.everything + retire.everything) == 0, "the key was printed")
        #expect(!CLIFiles.exists(sandbox.keyFilePath), "no key file was written")
        let keys = try await Self.keys(sandbox)
        #expect(
            keys == [.object(["id": .string(id), "created_at": .null, "current": .bool(true), "tokens": .integer(1)])]
        )
        try await Self.expectOpen(tokens, sandbox)
        #expect(try await sandbox.auditJSON("--event", "key_rotated").isEmpty)
    }

    @Test(arguments: TestBackend.all)
    func underSystemdTheCredentialIsTheKeyWhateverItsMode(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        var tokens = try await Self.addTokens(2, sandbox)
        let folder = sandbox.directory.file("credentials")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        let credential = folder + "/tokenkeeper.key"
        try FileManager.default.moveItem(atPath: sandbox.keyFilePath, toPath: credential)
        chmod(credential, 0o440)
        var cli = sandbox.cli
        cli.environment["CREDENTIALS_DIRECTORY"] = folder
        cli.environment["TOKENKEEPER_MASTER_KEY_FILE"] = nil

        try await Self.expectOpen(tokens, sandbox, cli)
        let token = CLISecret.make()
        let added = try await cli.run(["add", "--project", "p1"], stdin: token + "\n")
        #expect(added.status == 0, "\(added.stderr)")
        tokens[added.stdout.trimmingCharacters(in: .newlines)] = token
        try await Self.expectOpen(tokens, sandbox, cli)
        #expect(try await Self.keys(sandbox, cli).map(Self.tokens) == [3])
        let verify = try await cli.run(["audit", "verify"])
        #expect(verify.status == 0 && verify.stdout.contains("seal verified"), "\(verify.everything)")
        // A credential is read-only: rotation needs the keyring file.
        let rotate = try await cli.run(["key", "rotate"])
        #expect(rotate.status == 64 && rotate.stderr.contains("credential"), "\(rotate.stderr)")

        // Not found by accident: without the variable there is no key, and the same file named
        // as a key file is held to the key file's mode.
        let id = try #require(tokens.keys.first)
        #expect(try await sandbox.run("get", id).status == 64)
        var named = sandbox.cli
        named.environment["TOKENKEEPER_MASTER_KEY_FILE"] = credential
        let refused = try await named.run(["get", id])
        #expect(refused.status == 64 && refused.stderr.contains(credential), "\(refused.stderr)")
        #expect(Self.leaked(try Self.secrets(in: credential), in: added.everything + verify.everything) == 0)
    }

    // MARK: - Killed midway beside a daemon

    /// Tokens under `entry`, counted in the store behind the tool's back.
    static func sealed(under entry: Keyring.Entry, in store: any TokenStore) throws -> Int {
        try store.read { try $0.countSealedTokens(startingWith: [entry.header])[0] }
    }

    static func refreshes(_ sandbox: CLISandbox) async throws -> Int {
        try await sandbox.auditJSON("--event", "refreshed").count
    }

    @Test(.timeLimit(.minutes(5)), arguments: TestBackend.all)
    func aRotationKilledMidwayBesideADaemonStillOpensEveryTokenAndIsFinished(_ backend: TestBackend) async throws {
        try await SinchHarness.scene { sinch in
            // Most tokens are far from due; the hot ones are due at once and every ~5 s after.
            var sandbox = try await CLISandbox.make(
                sinch: sinch,
                environment: [
                    "TOKENKEEPER_LIFETIME": "45s", "TOKENKEEPER_RENEW_BEFORE": "40s", "TOKENKEEPER_MIN_AGE": "2s",
                    "TOKENKEEPER_RATE": "1000", "TOKENKEEPER_CONCURRENCY": "4",
                ],
                backend: backend
            )
            sandbox.cli.queued = false
            // Enough pages that the rotation is still running when its first page is seen.
            let (total, hot) = (backend == .sqlite ? 20_000 : 5_000, 20)
            let far = CLITime.format(CLITime.days(30))
            let soon = CLITime.format(Date().addingTimeInterval(30))
            let lines = (0..<total).map { index in
                #"{"project":"p1","token":"\#(sinch.fake.issueToken())","expires_at":"\#(index < hot ? soon : far)"}"#
            }
            let file = sandbox.directory.file("tokens.jsonl")
            try CLIFiles.write(lines.joined(separator: "\n") + "\n", to: file)
            // A month ahead is more than the 45 s lifetime allows an expiry to be: imported under
            // a real one (the refresh times come out the same: renew_before decides them).
            var importing = sandbox
            importing.cli.environment["TOKENKEEPER_LIFETIME"] = "60d"
            try await importing.succeed("import", file)
            let daemon = try await sandbox.startDaemon()
            defer { if daemon.process.isRunning { kill(daemon.process.processIdentifier, SIGKILL) } }
            try await waitUntil("the daemon's first refreshes", within: .seconds(60)) {
                try await Self.refreshes(sandbox) > 0
            }

            // SIGKILL once a page is re-sealed and before the last; a rotation that outran the
            // look is a finished one, and the next attempt rotates again.
            let store = try sandbox.keyedInventory().store
            var killed: (key: Keyring.Entry, under: Int)?
            for attempt in 0..<3 where killed == nil {
                let known = Set(try Self.ring(sandbox).entries.map(\.id))
                let rotate = try sandbox.spawn(
                    ["key", "rotate"],
                    stderrFile: sandbox.directory.file("rotate\(attempt)")
                )
                defer { if rotate.isRunning { kill(rotate.processIdentifier, SIGKILL) } }
                var fresh: Keyring.Entry?
                try await waitUntil("the new keyring written", within: .seconds(30)) {
                    fresh = (try? Self.ring(sandbox)).map(\.current).flatMap { known.contains($0.id) ? nil : $0 }
                    return fresh != nil || !rotate.isRunning
                }
                let key = try #require(fresh, "key rotate ended without writing a key")
                try await waitUntil("a page re-sealed", within: .seconds(60)) {
                    try Self.sealed(under: key, in: store) >= KeyRotation.pageSize || !rotate.isRunning
                }
                kill(rotate.processIdentifier, SIGKILL)
                try #require(try await rotate.exited(within: .seconds(30)))
                let under = try Self.sealed(under: key, in: store)
                if rotate.terminationReason == .uncaughtSignal, under < total { killed = (key, under) }
            }
            let (key, under) = try #require(killed, "every rotation finished before it could be killed")
            #expect(under >= KeyRotation.pageSize)

            // Some tokens under the new key, the rest under the old; every one opens and is live.
            let keys = try await Self.keys(sandbox)
            let current = keys.first { $0["current"] == .bool(true) }
            #expect(current?["id"]?.string == key.id)
            #expect(keys.compactMap(Self.tokens).reduce(0, +) == total)
            let old = try #require(keys.first { !($0["current"]?.bool ?? true) && (Self.tokens($0) ?? 0) > 0 })
            #expect(try sandbox.expectEveryTokenLive(at: sinch.fake, "after the kill: ") == total)
            let oldID = try #require(old["id"]?.string)
            let retire = try await sandbox.run("key", "retire", oldID)
            #expect(retire.status == 65)
            #expect(retire.stderr.contains("key \(oldID) still seals "), "\(retire.stderr)")

            let refreshed = try await Self.refreshes(sandbox)
            let finish = try await sandbox.succeed("key", "rotate")
            #expect(finish.stdout.hasPrefix("finished the rotation to key \(key.id): re-sealed "), "\(finish.stdout)")
            let after = try await Self.keys(sandbox)
            #expect(after.map { $0["id"]?.string } == keys.map { $0["id"]?.string }, "no key was added")
            for entry in after where entry["current"] != .bool(true) { #expect(Self.tokens(entry) == 0) }
            #expect(Self.tokens(after.first { $0["current"] == .bool(true) }) == total)
            #expect(try sandbox.expectEveryTokenLive(at: sinch.fake, "after the finish: ") == total)
            let rotated = try await sandbox.auditJSON("--event", "key_rotated")
            #expect(rotated.filter { $0["detail"]?["key_id"]?.string == key.id }.count == 1)

            // The daemon went on refreshing under the new key, and logged no error.
            try await waitUntil("a refresh after the rotation", within: .seconds(60)) {
                try await Self.refreshes(sandbox) > refreshed
            }
            #expect(daemon.process.isRunning)
            for entry in try await Self.keys(sandbox) where entry["current"] != .bool(true) {
                #expect(Self.tokens(entry) == 0, "the daemon sealed a refresh under an old key")
            }
            let log = try String(contentsOfFile: daemon.log, encoding: .utf8).split(separator: "\n")
            let bad = log.filter { line in
                let level = (try? CLIJSON.parse(String(line)))?["level"]?.string ?? ""
                return ["error", "critical"].contains(level)
                    || (level == "warning" && line.localizedCaseInsensitiveContains("key"))
            }
            #expect(bad.isEmpty, "the daemon logged: \(bad.prefix(3))")
            let verify = try await sandbox.succeed("audit", "verify")
            #expect(verify.stdout.contains("audit chain intact") && verify.stdout.contains("seal verified"))
            try await daemon.process.terminateGracefully(within: .seconds(30))
            #expect(daemon.process.terminationStatus == 0)
        }
    }
}
