import SinchProvisioning
import Testing
import TokenKeeperTesting

@testable import TokenKeeper

extension ProbeEngineTests {
    /// Throttling or a refused key pauses the project for probes as for refreshes (`Retry-After`,
    /// else the project's backoff): its other tokens are not asked until the pause ends, and
    /// other projects go on.
    @Test(arguments: TestBackend.all, [false, true])
    func aThrottledOrRefusedKeyProbePausesItsProjectUntilRetryAfter(
        _ backend: TestBackend,
        credentials: Bool
    )
        async throws
    {
        let h = try Harness(backend)
        let (first, firstToken) = try h.add("p1")
        let (second, secondToken) = try h.add("p1")
        let (elsewhere, _) = try h.add("p2")
        h.prober.fail(
            firstToken,
            with: credentials
                ? SinchError(
                    .credentials,
                    status: 401,
                    code: "unauthorized",
                    message: "bad key",
                    retryAfter: .seconds(60)
                )
                : SinchError(
                    .throttled,
                    status: 429,
                    code: "too_many_requests",
                    message: "slow",
                    retryAfter: .seconds(60)
                )
        )

        let code = credentials ? "unauthorized" : "too_many_requests"
        #expect(
            try await h.engine.probe(ids: [first]).first?.result
                == .failed(errorClass: credentials ? "credentials" : "throttled", code: code)
        )
        let held = Dictionary(uniqueKeysWithValues: try await h.engine.probe(ids: [second, elsewhere]))

        #expect(held[second] == .failed(errorClass: "throttled", code: "project_paused"))
        #expect(h.prober.calls(secondToken) == 0, "a paused project is not asked")
        #expect(held[elsewhere] == .accepted)
        #expect(try h.record(second).lastProbedAt == nil)
        h.fixture.clock.advance(by: .seconds(60))
        #expect(try await h.engine.probe(ids: [second]).first?.result == .accepted)
        #expect(h.prober.calls(secondToken) == 1)
    }
}
