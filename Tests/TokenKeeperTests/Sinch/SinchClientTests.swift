import FakeSinch
import Foundation
import SinchProvisioning
import Synchronization
import Testing
import TokenKeeper
import TokenKeeperTesting

/// The real client over libcurl against FakeSinch on loopback.
@Suite struct SinchClientTests {
    @Test func refreshReturnsANewTokenAndTheOldOneStaysValid() async throws {
        try await SinchHarness.with { sinch in
            let old = sinch.fake.issueToken()
            let new = try await sinch.client().refresh(token: old, project: "p1")
            #expect(new != old)
            #expect(sinch.fake.isValid(new))
            #expect(sinch.fake.isValid(old))
            #expect(sinch.fake.lineage(of: new) == sinch.fake.lineage(of: old))
        }
    }

    @Test func exchangesACodeOnceOnly() async throws {
        try await SinchHarness.with { sinch in
            let client = try sinch.client()
            let code = sinch.fake.issueCode()
            let token = try await client.exchangeCode(code, project: "p1", businessManager: "SINCH_UK")
            #expect(sinch.fake.isValid(token))
            let error = await #expect(throws: SinchError.self) {
                try await client.exchangeCode(code, project: "p1")
            }
            #expect(error?.errorClass == .badRequest)
            #expect(error?.code == "invalid_facebook_code")
        }
    }

    @Test func aRevokedTokenIsPermanent() async throws {
        try await SinchHarness.with { sinch in
            let token = sinch.fake.issueToken()
            sinch.fake.revoke(token: token)
            let error = await #expect(throws: SinchError.self) {
                try await sinch.client().refresh(token: token, project: "p1")
            }
            #expect(error?.errorClass == .permanent)
            #expect(error?.code == "invalid_facebook_token")
            #expect(error?.status == 400)
        }
    }

    /// Each row of the classification table (TokenKeeper.docc/SinchAPI.md), produced on the wire by FakeSinch.
    @Test(
        arguments: [
            (
                FakeSinchFault.error(status: 400, code: "invalid_facebook_token"), SinchErrorClass.permanent,
                "invalid_facebook_token"
            ),
            (.error(status: 500, code: "log_in_facebook_required"), .permanent, "log_in_facebook_required"),
            (.error(status: 400, code: "invalid_input"), .badRequest, "invalid_input"),
            (.error(status: 400, code: "invalid_payload"), .badRequest, "invalid_payload"),
            (.error(status: 400, code: "invalid_business_manager"), .badRequest, "invalid_business_manager"),
            (
                .error(status: 400, code: "invalid_business_manager_for_environment"), .badRequest,
                "invalid_business_manager_for_environment"
            ),
            (.tooManyRequests(retryAfter: nil), .throttled, "http_429"),
            (.error(status: 500, code: "facebook_Request_limit_reached"), .throttled, "facebook_Request_limit_reached"),
            (.error(status: 500, code: "internal_error"), .transient, "internal_error"),
            (.html(status: 502), .transient, "http_502"),
            (.emptyBody(status: 503), .transient, "http_503"),
            (.emptyBody(status: 201), .transient, "malformed_response"),
            (.successWithoutToken, .transient, "malformed_response"),
            (.truncatedBody, .transient, "malformed_response"),
            (.reset, .transient, "connection_error"),
            (.oversizedBody(bytes: 2 << 20), .transient, "response_too_large"),
        ] as [(FakeSinchFault, SinchErrorClass, String)]
    )
    func classifiesEachAnswerOfTheTable(fault: FakeSinchFault, expected: SinchErrorClass, code: String) async throws {
        try await SinchHarness.with { sinch in
            let token = sinch.fake.issueToken()
            sinch.fake.inject(FakeSinchFaultRule(fault, endpoint: .longLivedAccessToken))
            let error = await #expect(throws: SinchError.self) {
                try await sinch.client().refresh(token: token, project: "p1")
            }
            #expect(error?.errorClass == expected)
            #expect(error?.code == code)
        }
    }

    @Test func aPersistent401IsACredentialsErrorNamingTheSource() async throws {
        try await SinchHarness.with { sinch in
            sinch.fake.inject(FakeSinchFaultRule(.unauthorized, endpoint: .longLivedAccessToken))
            let error = await #expect(throws: SinchError.self) {
                try await sinch.client().refresh(token: sinch.fake.issueToken(), project: "p1")
            }
            #expect(error?.errorClass == .credentials)
            #expect(error?.status == 401)
            #expect(error?.message.contains("the test's credentials") == true)
            // Renewed once and retried once, then gave up.
            #expect(sinch.fake.stats().count(.longLivedAccessToken) == 2)
            #expect(sinch.fake.stats().count(.oauthToken) == 2)
        }
    }

    @Test(arguments: [("7", Duration.seconds(7)), ("Wed, 25 Nov 2026 10:00:30 GMT", .seconds(30))])
    func retryAfterIsReadFromA429(value: String, expected: Duration) async throws {
        // 2026-11-25T10:00:00Z on both sides.
        let clock = ManualClock(UnixTime(seconds: 1_795_600_800))
        try await SinchHarness.with(FakeSinchConfiguration(clock: clock)) { sinch in
            sinch.fake.inject(FakeSinchFaultRule(.tooManyRequests(retryAfter: value), endpoint: .longLivedAccessToken))
            let error = await #expect(throws: SinchError.self) {
                try await sinch.client(clock: clock).refresh(token: sinch.fake.issueToken(), project: "p1")
            }
            #expect(error?.errorClass == .throttled)
            #expect(error?.retryAfter == expected)
        }
    }

    @Test func aHangEndsAtTheConfiguredTimeout() async throws {
        try await SinchHarness.with { sinch in
            sinch.fake.inject(FakeSinchFaultRule(.hang, endpoint: .longLivedAccessToken))
            let client = try sinch.client(transport: sinch.transport(timeout: .milliseconds(500)))
            let token = sinch.fake.issueToken()
            let started = ContinuousClock.now
            let error = await #expect(throws: SinchError.self) {
                try await client.refresh(token: token, project: "p1")
            }
            #expect(error?.code == "timeout")
            #expect(error?.errorClass == .transient)
            // Generous: the point is that it ends, near the timeout rather than at the hang limit.
            #expect(ContinuousClock.now - started < .seconds(60))
        }
    }

    @Test func cancellingTheCallerAbandonsAHangingRequest() async throws {
        try await SinchHarness.with { sinch in
            sinch.fake.inject(FakeSinchFaultRule(.hang, endpoint: .longLivedAccessToken))
            // Basic: the hanging call is the only request, so once FakeSinch sees one in flight the
            // transfer is on the loop thread, not queued.
            let client = try sinch.client(authentication: .basic, transport: sinch.transport(timeout: .seconds(120)))
            let token = sinch.fake.issueToken()
            let call = Task { try await client.refresh(token: token, project: "p1") }
            try await waitUntil("the call in flight at FakeSinch") { sinch.fake.stats().maxInFlight > 0 }
            let cancelled = ContinuousClock.now
            call.cancel()
            let result = await call.result
            #expect(ContinuousClock.now - cancelled < .seconds(30))
            guard case .failure(let error as SinchError) = result else {
                Issue.record("the cancelled call returned \(result)")
                return
            }
            #expect(error.errorClass == .cancelled)
        }
    }

    @Test func oneBearerTokenServesManyCalls() async throws {
        try await SinchHarness.with { sinch in
            let client = try sinch.client()
            var token = sinch.fake.issueToken()
            for _ in 0..<20 { token = try await client.refresh(token: token, project: "p1") }
            #expect(sinch.fake.stats().count(.oauthToken) == 1)
            #expect(sinch.fake.stats().count(.longLivedAccessToken, status: 201) == 20)
        }
    }

    @Test func concurrentCallersShareOneRenewal() async throws {
        try await SinchHarness.with { sinch in
            // A slow token endpoint widens the window in which every caller finds no bearer.
            sinch.fake.inject(FakeSinchFaultRule(.latency(.milliseconds(200)), endpoint: .oauthToken))
            let client = try sinch.client()
            let tokens = (0..<32).map { _ in sinch.fake.issueToken() }
            try await withThrowingTaskGroup(of: String.self) { group in
                for token in tokens { group.addTask { try await client.refresh(token: token, project: "p1") } }
                for try await new in group { #expect(sinch.fake.isValid(new)) }
            }
            #expect(sinch.fake.stats().count(.oauthToken) == 1)
            #expect(sinch.fake.stats().count(.longLivedAccessToken, status: 201) == 32)
        }
    }

    @Test func aRefused401RenewsTheBearerOnceAndRetriesOnce() async throws {
        try await SinchHarness.with { sinch in
            let client = try sinch.client()
            _ = try await client.refresh(token: sinch.fake.issueToken(), project: "p1")
            sinch.fake.inject(FakeSinchFaultRule(.unauthorized, endpoint: .longLivedAccessToken, count: 1))
            let new = try await client.refresh(token: sinch.fake.issueToken(), project: "p1")
            #expect(sinch.fake.isValid(new))
            let stats = sinch.fake.stats()
            #expect(stats.count(.oauthToken) == 2)
            #expect(stats.count(.longLivedAccessToken, status: 401) == 1)
            #expect(stats.count(.longLivedAccessToken, status: 201) == 2)
        }
    }

    @Test func theBearerIsRenewedAMinuteBeforeItExpires() async throws {
        let clock = ManualClock(UnixTime(seconds: 1_795_600_800))
        let configuration = FakeSinchConfiguration(bearerLifetime: .seconds(3600), clock: clock)
        try await SinchHarness.with(configuration) { sinch in
            let client = try sinch.client(clock: clock)
            _ = try await client.refresh(token: sinch.fake.issueToken(), project: "p1")
            clock.advance(by: .seconds(3600 - 61))
            _ = try await client.refresh(token: sinch.fake.issueToken(), project: "p1")
            #expect(sinch.fake.stats().count(.oauthToken) == 1)
            clock.advance(by: .seconds(2))
            _ = try await client.refresh(token: sinch.fake.issueToken(), project: "p1")
            #expect(sinch.fake.stats().count(.oauthToken) == 2)
            #expect(sinch.fake.stats().count(.longLivedAccessToken, status: 401) == 0)
        }
    }

    @Test func aFailedEarlyRenewalKeepsUsingTheStillValidBearer() async throws {
        let clock = ManualClock(UnixTime(seconds: 1_795_600_800))
        try await SinchHarness.with(FakeSinchConfiguration(bearerLifetime: .seconds(3600), clock: clock)) { sinch in
            let client = try sinch.client(clock: clock)
            _ = try await client.refresh(token: sinch.fake.issueToken(), project: "p1")
            // Inside the renewal margin, with the token endpoint down: the old bearer still works.
            clock.advance(by: .seconds(3600 - 30))
            sinch.fake.inject(FakeSinchFaultRule(.error(status: 503, code: "unavailable"), endpoint: .oauthToken))
            _ = try await client.refresh(token: sinch.fake.issueToken(), project: "p1")
            #expect(sinch.fake.stats().count(.oauthToken, status: 503) == 1)
            // Past its expiry there is nothing to fall back on.
            clock.advance(by: .seconds(60))
            let error = await #expect(throws: SinchError.self) {
                try await client.refresh(token: sinch.fake.issueToken(), project: "p1")
            }
            #expect(error?.errorClass == .transient)
        }
    }

    @Test func basicAuthenticationNeverAsksForABearer() async throws {
        try await SinchHarness.with { sinch in
            let client = try sinch.client(authentication: .basic)
            _ = try await client.refresh(token: sinch.fake.issueToken(), project: "p1")
            #expect(sinch.fake.stats().count(.oauthToken) == 0)
            #expect(sinch.fake.stats().count(.longLivedAccessToken, status: 201) == 1)
        }
    }

    @Test(arguments: [SinchAuthentication.oauth2, .basic])
    func aWrongKeyIsACredentialsErrorWithoutTheSecret(authentication: SinchAuthentication) async throws {
        try await SinchHarness.with { sinch in
            let wrong = SinchCredentials(
                keyID: sinch.configuration.keyID,
                keySecret: "wrong-secret-0123456789",
                source: "config file /etc/tk.yaml"
            )
            let client = try sinch.client(authentication: authentication, credentials: wrong)
            let error = await #expect(throws: SinchError.self) {
                try await client.refresh(token: sinch.fake.issueToken(), project: "p1")
            }
            #expect(error?.errorClass == .credentials)
            #expect(error?.message.contains("config file /etc/tk.yaml") == true)
            // Basic has nothing to renew: one attempt, no retry.
            if authentication == .basic { #expect(sinch.fake.stats().count(.longLivedAccessToken) == 1) }
            #expect(error?.description.contains("wrong-secret-0123456789") == false)
            #expect(!sinch.logs.text.contains("wrong-secret-0123456789"))
        }
    }

    @Test func connectionsAreReused() async throws {
        try await SinchHarness.with { sinch in
            let transport = try sinch.transport()
            let client = try sinch.client(transport: transport)
            var token = sinch.fake.issueToken()
            for _ in 0..<50 { token = try await client.refresh(token: token, project: "p1") }
            // The token request and 50 calls: one connection.
            #expect(sinch.fake.stats().connections == 1)
            #expect(transport.connectionsOpened == 1)
        }
    }

    @Test func manyRequestsAreInFlightAtOnce() async throws {
        try await SinchHarness.with { sinch in
            sinch.fake.inject(FakeSinchFaultRule(.latency(.milliseconds(300)), endpoint: .longLivedAccessToken))
            let client = try sinch.client()
            let tokens = (0..<16).map { _ in sinch.fake.issueToken() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for token in tokens { group.addTask { _ = try await client.refresh(token: token, project: "p1") } }
                try await group.waitForAll()
            }
            #expect(sinch.fake.stats().maxInFlight >= 8)
        }
    }

    @Test func readsWABADetails() async throws {
        try await SinchHarness.with { sinch in
            let wabas = try await sinch.client().wabaDetails(token: sinch.fake.issueToken(), project: "p1")
            #expect(wabas.count == 1)
            #expect(wabas.first?.numbers.isEmpty == false)
        }
    }

    @Test func enablesTemplateAnalyticsAndClassifiesItsErrors() async throws {
        try await SinchHarness.with { sinch in
            let client = try sinch.client()
            try await client.enableTemplateAnalytics(project: "p1")
            #expect(sinch.fake.stats().count(.enableTemplateAnalytics, status: 200) == 1)
            sinch.fake.inject(
                FakeSinchFaultRule(
                    .error(status: 400, code: "project_not_initialized"),
                    endpoint: .enableTemplateAnalytics
                )
            )
            let error = await #expect(throws: SinchError.self) {
                try await client.enableTemplateAnalytics(project: "p1")
            }
            #expect(error?.errorClass == .badRequest)
            #expect(error?.code == "project_not_initialized")
        }
    }

    @Test func noSecretReachesLogsOrErrors() async throws {
        try await SinchHarness.with { sinch in
            let client = try sinch.client()
            let code = sinch.fake.issueCode()
            let token = try await client.exchangeCode(code, project: "p1")
            let refreshed = try await client.refresh(token: token, project: "p1")
            var errors: [String] = []
            for fault in [
                FakeSinchFault.error(status: 400, code: "invalid_facebook_token"), .html(status: 502), .reset,
            ] {
                // Not `count: 1`: libcurl retries once by itself when a reused connection dies
                // before any answer, so a single reset would go unseen.
                sinch.fake.inject(FakeSinchFaultRule(fault))
                do {
                    _ = try await client.refresh(token: refreshed, project: "p1")
                } catch {
                    errors.append("\(error)")
                }
                sinch.fake.clearFaults()
            }
            do { _ = try await client.exchangeCode(code, project: "p1") } catch { errors.append("\(error)") }
            #expect(errors.count == 4, "\(errors)")
            let written = sinch.logs.text + errors.joined(separator: "\n")
            #expect(!sinch.logs.all.isEmpty)
            for secret in [code, token, refreshed, sinch.configuration.keySecret] {
                #expect(!written.contains(secret))
            }
            #expect(!written.contains("fake-jwt."))
        }
    }
}
