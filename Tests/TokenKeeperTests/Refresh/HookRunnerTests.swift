import Foundation
import Testing
import TokenKeeper
import TokenKeeperTesting

/// The hook runner in process: its limit holds over a hook that hangs or keeps its stdin open.
@Suite struct HookRunnerTests {
    func record() throws -> TokenRecord {
        let fixture = try StoreFixture()
        return try fixture.inventory.add(token: "EAAG-hook-runner-test", NewToken(project: "p1"))
    }

    @Test func aHookThatHangsIsStoppedAtItsLimitAndReported() async throws {
        var hooks = TokenKeeperConfiguration.Hooks()
        // Never reads its input, never exits on its own.
        hooks[.deploy] = "/bin/sleep 600"
        let runner = HookRunner(hooks: hooks, timeout: .milliseconds(300))
        let failure = await runner.run(.deploy, record: try record(), token: "EAAG-new", error: nil)
        #expect(failure?.hasPrefix("deploy hook timed out") == true, "\(failure ?? "nil")")
    }

    @Test func aHookThatReadsItsInputGetsTheTokenAndEndOfFile() async throws {
        let directory = TemporaryDirectory()
        let output = directory.file("stdin")
        var hooks = TokenKeeperConfiguration.Hooks()
        hooks[.deploy] = "/bin/sh -c \"cat > \(output)\""
        let runner = HookRunner(hooks: hooks, timeout: .seconds(30))
        let failure = await runner.run(.deploy, record: try record(), token: "EAAG-new", error: nil)
        #expect(failure == nil)
        #expect(try String(contentsOfFile: output, encoding: .utf8) == "EAAG-new\n")
    }
}
