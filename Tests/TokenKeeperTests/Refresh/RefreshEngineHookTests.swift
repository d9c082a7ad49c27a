import Foundation
import Logging
import SinchProvisioning
import Testing
import TokenKeeper
import TokenKeeperTesting

/// The engine runs the hooks of a refresh once its outcome is committed: `deploy` for every new
/// token, `recovered` for a token that had failed, in process with the manual clock (the CLI
/// suite proves the same hooks through the binary and FakeSinch).
@Suite struct RefreshEngineHookTests {
    let fixture: StoreFixture
    let exchange = RefreshEngineTests.ScriptedExchange()
    let record: String
    let engine: RefreshEngine

    init() throws {
        fixture = try StoreFixture(policy: RenewalPolicy(backoffMin: .seconds(60), backoffMax: .seconds(3_600)))
        record = fixture.directory.file("hooks")
        try FileManager.default.createDirectory(atPath: record, withIntermediateDirectories: true)
        // $1 names the hook; each run leaves a file per token and hook.
        let script = fixture.directory.file("hook.sh")
        try """
        #!/bin/sh
        cat > "\(record)/$TOKENKEEPER_TOKEN_ID.$1"
        """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        var hooks = TokenKeeperConfiguration.Hooks()
        hooks[.deploy] = "\(script) deploy"
        hooks[.recovered] = "\(script) recovered"
        var limits = TokenKeeperConfiguration.Limits()
        limits.concurrency = 1
        limits.rate = 1_000
        engine = RefreshEngine(
            inventory: fixture.inventory,
            exchanger: exchange,
            limits: limits,
            owner: "test:1",
            hooks: HookRunner(hooks: hooks),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
    }

    func addDue(_ project: String) throws -> String {
        let now = fixture.clock.now
        let new = NewToken(
            project: project,
            issuedAt: now - .seconds(58 * 86_400),
            expiresAt: now + .seconds(2 * 86_400)
        )
        return try fixture.inventory.add(token: "EAAG-\(UUID().uuidString)", new).id
    }

    func ran(_ hook: String, for id: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(record)/\(id).\(hook)")
    }

    /// Sinch throttles the project once (Retry-After 6 s): its one failed token waits with the
    /// rest of the project, and when the pause is over every token is refreshed and deployed, and
    /// `recovered` runs for the token that had failed, and for no other.
    @Test func afterAThrottledProjectsPauseTheFailedTokenRunsRecoveredOnce() async throws {
        let throttled = try (0..<4).map { _ in try addDue("p1") }
        let others = try (0..<3).map { _ in try addDue("p2") }
        var error = RefreshEngineTests.throttled
        error.retryAfter = .seconds(6)
        exchange.fail("p1", with: error)

        let first = try await engine.runOnce()
        #expect(first.refreshed == 3 && first.failed == 1 && first.skipped == 3)
        #expect(exchange.calls("p1") == 1)
        for id in others { #expect(ran("deploy", for: id)) }
        for id in throttled { #expect(!ran("deploy", for: id) && !ran("recovered", for: id)) }
        let failed = try throttled.filter { try fixture.inventory.token(id: $0).state == .retrying }
        #expect(failed.count == 1)

        // Inside the pause nothing is sent; past it (Retry-After and the backoff's ceiling), all of p1.
        exchange.fail("p1", with: nil)
        fixture.clock.advance(by: .seconds(3))
        #expect(try await engine.runOnce().due == 0)
        let resume = try throttled.map { try fixture.inventory.token(id: $0).refreshAt }.max()!
        fixture.clock.set(resume)
        let after = try await engine.runOnce()
        #expect(after.refreshed == 4)
        for id in throttled { #expect(ran("deploy", for: id), "\(id) not deployed") }
        #expect(throttled.filter { ran("recovered", for: $0) } == failed)
        for id in others { #expect(!ran("recovered", for: id)) }
        for id in throttled + others { #expect(try fixture.inventory.token(id: id).state == .active) }
    }
}
