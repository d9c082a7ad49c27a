import FakeSinch
import Foundation
import SinchProvisioning
import Synchronization
import Testing

/// Each injected fault's wire behaviour, and which requests a rule matches.
extension FakeSinchTests {
    @Test func anErrorFaultAnswersAPAPIErrorForItsCount() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            sinch.fake.inject(
                FakeSinchFaultRule(.error(status: 500, code: "facebook_Request_limit_reached"), count: 2)
            )
            let token = sinch.fake.issueToken()
            for _ in 0..<2 {
                let response = try await sinch.refresh(token)
                #expect(response.status == 500)
                #expect(response.headers["content-type"] == "application/json")
                let error = try response.decode(FakeSinchWire.PAPIError.self)
                #expect(error.errorCode == "facebook_Request_limit_reached")
                #expect(!error.message.isEmpty && !error.resolution.isEmpty)
            }
            #expect(try await sinch.refresh(token).status == 201)
            #expect(sinch.fake.stats().count(.longLivedAccessToken, status: 500) == 2)
        }
    }

    @Test func faultsComeBeforeCredentialsAndLogic() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            sinch.fake.inject(FakeSinchFaultRule(.error(status: 503, code: "internal_error"), count: 1))
            let response = try await sinch.call(
                .wabaDetails,
                body: "not json",
                authorization: sinch.basic(nil, "wrong")
            )
            #expect(response.status == 503)
            #expect(response.errorCode == "internal_error")
        }
    }

    @Test func anUnauthorizedFaultAnswers401ProblemJSONToAGoodKey() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            sinch.fake.inject(FakeSinchFaultRule(.unauthorized, endpoint: .enableTemplateAnalytics, count: 1))
            let response = try await sinch.call(.enableTemplateAnalytics)
            #expect(response.status == 401)
            #expect(response.headers["content-type"] == "application/problem+json")
            #expect(try response.decode(FakeSinchWire.Problem.self).title == "Unauthorized")
            #expect(try await sinch.call(.enableTemplateAnalytics).status == 200)
        }
    }

    @Test(arguments: ["2", "Wed, 21 Oct 2026 07:28:00 GMT", nil])
    func a429FaultSendsRetryAfterVerbatimOnlyWhenSet(retryAfter: String?) async throws {
        try await FakeSinchHarness.with { sinch async throws in
            sinch.fake.inject(FakeSinchFaultRule(.tooManyRequests(retryAfter: retryAfter)))
            let response = try await sinch.refresh(sinch.fake.issueToken())
            #expect(response.status == 429)
            #expect(response.headers["retry-after"] == retryAfter)
            #expect(response.headers["content-type"] == "application/problem+json")
            #expect(try response.decode(FakeSinchWire.Problem.self).title == "Too Many Requests")
        }
    }

    @Test func aLatencyFaultDelaysAnOrdinaryAnswer() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            sinch.fake.inject(FakeSinchFaultRule(.latency(.milliseconds(200)), count: 1))
            let token = sinch.fake.issueToken()
            let started = ContinuousClock.now
            let response = try await sinch.refresh(token)
            #expect(ContinuousClock.now - started >= .milliseconds(200))
            #expect(response.status == 201)
            #expect(response.issuedToken != nil)
        }
    }

    @Test func aHangOutlastsTheClientsTimeoutAndCountsAsNoAnswer() async throws {
        let limit = Duration.seconds(600)
        let stopping = Mutex<Duration?>(nil)
        let stats = try await FakeSinchHarness.with(
            configure: { $0.hangLimit = limit },
            timeout: .milliseconds(300)
        ) { sinch async throws in
            sinch.fake.inject(FakeSinchFaultRule(.hang, endpoint: .wabaDetails))
            let error = await #expect(throws: TransportError.self) {
                try await sinch.wabaDetails(sinch.fake.issueToken())
            }
            #expect(error?.kind == .timeout)
            let started = ContinuousClock.now
            await sinch.fake.stop()
            stopping.withLock { $0 = ContinuousClock.now - started }
            return sinch.fake.stats()
        }
        // stop() ends the hang rather than waiting for its limit: a bound far from any slowness.
        #expect(try #require(stopping.withLock { $0 }) < limit / 2)
        #expect(stats.count(.wabaDetails, status: 0) == 1)
        #expect(stats.count(.wabaDetails) == 1)
    }

    @Test func aHangEndsAtItsLimitByClosingWithoutAnAnswer() async throws {
        try await FakeSinchHarness.with(configure: { $0.hangLimit = .milliseconds(100) }) { sinch async throws in
            sinch.fake.inject(FakeSinchFaultRule(.hang, count: 1))
            let error = await #expect(throws: TransportError.self) {
                try await sinch.refresh(sinch.fake.issueToken())
            }
            #expect(error?.kind == .connection)
            #expect(try await sinch.refresh(sinch.fake.issueToken()).status == 201)
        }
    }

    @Test func aResetFaultAbortsTheConnection() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            sinch.fake.inject(FakeSinchFaultRule(.reset, count: 1))
            let error = await #expect(throws: TransportError.self) {
                try await sinch.refresh(sinch.fake.issueToken())
            }
            #expect(error?.kind == .connection)
            #expect(sinch.fake.stats().count(.longLivedAccessToken, status: 0) == 1)
            #expect(try await sinch.refresh(sinch.fake.issueToken()).status == 201)
        }
    }

    @Test func anEmptyBodyFaultSendsContentLengthZero() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            sinch.fake.inject(FakeSinchFaultRule(.emptyBody(status: 502)))
            let response = try await sinch.refresh(sinch.fake.issueToken())
            #expect(response.status == 502)
            #expect(response.headers["content-length"] == "0")
            #expect(response.body.isEmpty)
        }
    }

    @Test(arguments: [(FakeSinchEndpoint.longLivedAccessToken, 201), (.wabaDetails, 200)])
    func aTruncatedBodyIsCutJSONUnderTheSuccessStatus(endpoint: FakeSinchEndpoint, status: Int) async throws {
        try await FakeSinchHarness.with { sinch async throws in
            sinch.fake.inject(FakeSinchFaultRule(.truncatedBody, endpoint: endpoint))
            let response = try await sinch.call(endpoint, body: #"{"facebookToken":"\#(sinch.fake.issueToken())"}"#)
            #expect(response.status == status)
            #expect(response.headers["content-type"] == "application/json")
            #expect(response.headers["content-length"] == String(response.body.count))
            #expect(response.text.hasPrefix("{\""))
            #expect(!response.isValidJSON)
        }
    }

    @Test func anHTMLFaultAnswersAProxyPage() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            sinch.fake.inject(FakeSinchFaultRule(.html(status: 502)))
            let response = try await sinch.refresh(sinch.fake.issueToken())
            #expect(response.status == 502)
            #expect(response.headers["content-type"]?.hasPrefix("text/html") == true)
            #expect(response.text.contains("<h1>502 Bad Gateway</h1>"))
        }
    }

    @Test func anOversizedBodyIsValidJSONOfThatSize() async throws {
        try await FakeSinchHarness.with(maxResponseBytes: 10_000) { sinch async throws in
            sinch.fake.inject(FakeSinchFaultRule(.oversizedBody(bytes: 5000), count: 1))
            let response = try await sinch.refresh(sinch.fake.issueToken())
            #expect(response.status == 201)
            #expect(response.body.count == 5000)
            #expect(response.isValidJSON)
            #expect(response.issuedToken == nil)

            sinch.fake.inject(FakeSinchFaultRule(.oversizedBody(bytes: 50_000), count: 1))
            let error = await #expect(throws: TransportError.self) {
                try await sinch.refresh(sinch.fake.issueToken())
            }
            #expect(error?.kind == .responseTooLarge)
        }
    }

    @Test func aSuccessWithoutTokenIsAnEmptyObject() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            sinch.fake.inject(FakeSinchFaultRule(.successWithoutToken))
            let token = sinch.fake.issueToken()
            let refreshed = try await sinch.refresh(token)
            #expect(refreshed.status == 201)
            #expect(refreshed.text == "{}")
            let details = try await sinch.wabaDetails(token)
            #expect(details.status == 200)
            #expect(details.text == "{}")
        }
    }

    @Test func aRuleWithoutEndpointSparesTheTokenEndpoint() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            sinch.fake.inject(FakeSinchFaultRule(.error(status: 500, code: "internal_error")))
            #expect(try await sinch.oauthToken().status == 200)
            #expect(try await sinch.call(.enableTemplateAnalytics).status == 500)
            sinch.fake.clearFaults()
            sinch.fake.inject(FakeSinchFaultRule(.emptyBody(status: 503), endpoint: .oauthToken))
            #expect(try await sinch.oauthToken().status == 503)
            #expect(try await sinch.call(.enableTemplateAnalytics).status == 200)
        }
    }

    @Test func aLineageRuleFaultsOnlyThatLineagesTokensAndCodes() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            sinch.fake.inject(FakeSinchFaultRule(.error(status: 500, code: "internal_error"), lineage: "ln_carol"))
            let carol = sinch.fake.issueToken(lineage: "ln_carol")
            let dave = sinch.fake.issueToken(lineage: "ln_dave")
            #expect(try await sinch.refresh(carol).status == 500)
            #expect(try await sinch.wabaDetails(carol).status == 500)
            #expect(try await sinch.exchange(code: sinch.fake.issueCode(lineage: "ln_carol")).status == 500)
            #expect(try await sinch.refresh(dave).status == 201)
            #expect(try await sinch.call(.enableTemplateAnalytics).status == 200)
        }
    }

    @Test func aProjectRuleFaultsOnlyThatProject() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            sinch.fake.inject(FakeSinchFaultRule(.html(status: 504), project: "p2"))
            let token = sinch.fake.issueToken()
            #expect(try await sinch.refresh(token, project: "p2").status == 504)
            #expect(try await sinch.refresh(token, project: "p1").status == 201)
        }
    }

    @Test func theFirstMatchingRuleWinsAndCountsRunOut() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            sinch.fake.inject(FakeSinchFaultRule(.emptyBody(status: 502), project: "p1", count: 1))
            sinch.fake.inject(FakeSinchFaultRule(.emptyBody(status: 503), count: 2))
            let token = sinch.fake.issueToken()
            var statuses: [Int] = []
            for _ in 0..<4 { statuses.append(try await sinch.refresh(token).status) }
            #expect(statuses == [502, 503, 503, 201])
        }
    }

    @Test func aRuleFaultsAboutItsRateOfRequests() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            sinch.fake.inject(FakeSinchFaultRule(.emptyBody(status: 503), endpoint: .enableTemplateAnalytics, rate: 0))
            sinch.fake.inject(
                FakeSinchFaultRule(.emptyBody(status: 502), endpoint: .enableTemplateAnalytics, rate: 0.5)
            )
            for _ in 0..<200 { _ = try await sinch.call(.enableTemplateAnalytics) }
            let stats = sinch.fake.stats()
            #expect(stats.count(.enableTemplateAnalytics, status: 503) == 0)
            // Binomial(200, 0.5): outside 50...150 about once in 10^12 runs.
            #expect((50...150).contains(stats.count(.enableTemplateAnalytics, status: 502)))
            #expect(stats.count(.enableTemplateAnalytics) == 200)
        }
    }
}
