import FakeSinch
import Foundation
import Logging
import TokenKeeper
import TokenKeeperSQLite

/// The world of `tokenkeeper demo`: a private temp folder holding a fresh database and master
/// key, an in-process FakeSinch on 127.0.0.1 with a key of its own, and a few dozen tokens it
/// minted with lifetimes of under a minute, so that refreshes start at once and never stop.
///
/// Nothing here reads the caller's configuration or environment: the demo cannot touch a real
/// database or call the real Sinch.
final class DemoSandbox: Sendable {
    static let projects = ["p-acme", "p-globex", "p-initech"]
    static let tokensPerProject = 12

    /// Lifetimes of a minute so that a refresh is due about every second: each token refreshes
    /// 20 s (minus up to 2 s of jitter) before it dies, and a failure retries within seconds.
    static let policy = RenewalPolicy(
        lifetime: .seconds(60),
        renewBefore: .seconds(20),
        minAge: .seconds(10),
        jitter: .fraction(0.1),
        backoffMin: .seconds(2),
        backoffMax: .seconds(10)
    )

    static let retryAfterSeconds = 3

    /// How many of a project's refresh calls the throttled period answers 429: two in a row show
    /// the pause repeated, one leaves a short demo time to see the recovery.
    static func throttledCalls(duration: Duration) -> Int {
        duration >= .seconds(60) ? 2 : 1
    }

    let folder: String
    let fake: FakeSinch
    let port: Int
    let context: CommandContext
    let initResult: CommandContext.InitResult
    /// What was added, soonest refresh first.
    let tokens: [TokenRecord]
    /// The token the demo revokes at FakeSinch: the one due first.
    let doomed: TokenRecord
    /// `doomed`'s value, only to name it to FakeSinch; never shown.
    private let doomedValue: String

    private init(
        folder: String,
        fake: FakeSinch,
        port: Int,
        context: CommandContext,
        initResult: CommandContext.InitResult,
        tokens: [TokenRecord],
        doomedValue: String
    ) {
        self.folder = folder
        self.fake = fake
        self.port = port
        self.context = context
        self.initResult = initResult
        self.tokens = tokens
        self.doomed = tokens[0]
        self.doomedValue = doomedValue
    }

    /// Makes the folder, starts FakeSinch, runs `init`'s code and adds the tokens. On a failure
    /// whatever was started is stopped and the folder removed.
    static func start(logger: Logger) async throws -> DemoSandbox {
        try policy.validate()
        let folder = try makeFolder()
        // A key of its own, so the demo's client authenticates as a real one would.
        var generator = SystemRandom()
        let sinchKey = FakeSinchConfiguration(
            keyID: "demo-" + hex(8, using: &generator),
            keySecret: hex(32, using: &generator),
            tokenLifetime: policy.lifetime
        )
        let fake = FakeSinch(configuration: sinchKey, logger: logger)
        do {
            let port = try await fake.start(host: "127.0.0.1", port: 0)
            let context = CommandContext(
                configuration: configuration(folder: folder, fake: fake, key: sinchKey),
                backend: SQLiteBackend()
            )
            let initResult = try context.initialize()
            let (tokens, doomedValue) = try addTokens(context: context, fake: fake)
            return DemoSandbox(
                folder: folder,
                fake: fake,
                port: port,
                context: context,
                initResult: initResult,
                tokens: tokens,
                doomedValue: doomedValue
            )
        } catch {
            await fake.stop()
            try? FileManager.default.removeItem(atPath: folder)
            throw error
        }
    }

    /// The project of each token, for narration.
    var projectOfToken: [String: String] {
        Dictionary(uniqueKeysWithValues: tokens.map { ($0.id, $0.projectID) })
    }

    /// Meta kills `doomed` early (a customer removed the app): its next refresh finds it dead.
    func revokeDoomed() {
        fake.revoke(token: doomedValue)
    }

    /// Sinch throttles `project`: its next `calls` refresh calls are answered 429 with `Retry-After`.
    func throttle(project: String, calls: Int) {
        fake.inject(
            FakeSinchFaultRule(
                .tooManyRequests(retryAfter: String(Self.retryAfterSeconds)),
                endpoint: .longLivedAccessToken,
                project: project,
                count: calls
            )
        )
    }

    /// Stops FakeSinch (its port closes before this returns).
    func stopSinch() async {
        await fake.stop()
    }

    /// Removes the folder, database and key included.
    func removeFolder() throws {
        do {
            try FileManager.default.removeItem(atPath: folder)
        } catch {
            throw TokenKeeperError(.database, "cannot remove the demo folder \(folder): \(error.localizedDescription)")
        }
    }

    // MARK: - Setting up

    /// `$TMPDIR/tokenkeeper-demo.XXXXXX`, 0700.
    private static func makeFolder() throws -> String {
        let template = NSTemporaryDirectory() + "/tokenkeeper-demo.XXXXXX"
        var bytes = Array(template.utf8CString)
        guard let created = mkdtemp(&bytes) else {
            let reason = String(cString: strerror(errno))
            throw TokenKeeperError(
                .database,
                "cannot create a temporary folder in \(NSTemporaryDirectory()): \(reason)"
            )
        }
        // NSTemporaryDirectory ends in a slash: tidy the double one for the folder's printed name.
        return String(cString: created).replacingOccurrences(of: "//", with: "/")
    }

    private static func configuration(
        folder: String,
        fake: FakeSinch,
        key: FakeSinchConfiguration
    ) -> TokenKeeperConfiguration {
        var configuration = TokenKeeperConfiguration(databasePath: folder + "/tokenkeeper.sqlite")
        configuration.sinch.keyID = key.keyID
        configuration.sinch.keySecret = key.keySecret
        configuration.sinch.provisioningURL = fake.baseURL
        configuration.sinch.authURL = fake.authURL
        configuration.sinch.credentialSource = "the demo's FakeSinch"
        configuration.policy = policy
        configuration.httpTimeout = .seconds(10)
        return configuration
    }

    /// Adds the tokens with FakeSinch's own expiries, spread over one refresh cycle (the first
    /// is due at once, the last in about 40 s), projects taking turns. Returns them soonest
    /// refresh first, and the value of the first.
    private static func addTokens(context: CommandContext, fake: FakeSinch) throws -> ([TokenRecord], String) {
        let inventory = try context.keyedInventory()
        let count = projects.count * tokensPerProject
        let cycle = (policy.lifetime - policy.renewBefore).wholeSeconds
        var added: [(record: TokenRecord, value: String)] = []
        for index in 0..<count {
            let project = projects[index % projects.count]
            let number = index / projects.count + 1
            let lifetime = policy.renewBefore.wholeSeconds + 2 + Int64(index) * cycle / Int64(count)
            let value = fake.issueToken(lifetime: .seconds(lifetime))
            // FakeSinch's expiry, rounded down: tokenkeeper never thinks a token lives longer than it does.
            let expiry = fake.expiry(of: value).map { UnixTime(seconds: Int64($0.rounded(.down))) }
            let record = try inventory.add(
                token: value,
                NewToken(
                    project: project,
                    label: "\(company(project)) \(number < 10 ? "0" : "")\(number)",
                    waba: String(100_000 + index),
                    expiresAt: expiry ?? context.clock.now + .seconds(lifetime)
                ),
                source: "demo"
            )
            added.append((record, value))
        }
        added.sort { ($0.record.refreshAt, $0.record.expiresAt) < ($1.record.refreshAt, $1.record.expiresAt) }
        return (added.map(\.record), added[0].value)
    }

    /// `p-acme` → `Acme`.
    private static func company(_ project: String) -> String {
        let name = project.hasPrefix("p-") ? project.dropFirst(2) : Substring(project)
        return name.prefix(1).uppercased() + name.dropFirst()
    }

    private static func hex(_ bytes: Int, using generator: inout some RandomNumberGenerator) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}
