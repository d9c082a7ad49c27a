import FakeSinch
import Foundation
import SinchProvisioning
import Testing

/// Statistics, the `/_fake/` admin API, and the JSON form of fault rules.
extension FakeSinchTests {
    @Test func requestsAreCountedByEndpointStatusSecondAndProject() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            let second = String(Int(sinch.clock.secondsSince1970))
            let token = sinch.fake.issueToken()
            _ = try await sinch.refresh(token, project: "p1")
            _ = try await sinch.refresh(token, project: "p2")
            _ = try await sinch.refresh("EAAGunknown", project: "p2")
            _ = try await sinch.call(.enableTemplateAnalytics, project: "p2")
            _ = try await sinch.oauthToken()
            sinch.clock.advance(by: .seconds(1))
            _ = try await sinch.wabaDetails(token)

            let stats = sinch.fake.stats()
            #expect(stats.requests["longLivedAccessToken"] == ["201": 2, "400": 1])
            #expect(stats.count(.longLivedAccessToken) == 3)
            #expect(stats.count(.longLivedAccessToken, status: 201) == 2)
            #expect(stats.count(.enableTemplateAnalytics, status: 200) == 1)
            #expect(stats.count(.oauthToken) == 1)
            #expect(stats.count(.wabaDetails, status: 200) == 1)
            // The token endpoint is not an API call per second.
            #expect(stats.requestsPerSecond == [second: 4, String(Int(sinch.clock.secondsSince1970)): 1])
            #expect(stats.peakRequestsPerSecond == 4)
            #expect(stats.requestsPerProjectSecond["p2"] == [second: 3])
            #expect(stats.requestsPerProjectSecond["p1"]?[second] == 1)
            #expect(stats.oauthTokensIssued == 1)
        }
    }

    @Test func exchangesAreCountedPerLineage() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            let code = sinch.fake.issueCode(lineage: "ln_erin")
            let token = try #require(try await sinch.exchange(code: code).issuedToken)
            _ = try await sinch.refresh(token)
            _ = try await sinch.refresh(token)
            _ = try await sinch.exchange(code: code)
            _ = try await sinch.wabaDetails(token)
            #expect(sinch.fake.stats().exchangesPerLineage == ["ln_erin": 3])
        }
    }

    @Test func requestsOnAReusedConnectionCountOneConnection() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            let token = sinch.fake.issueToken()
            for _ in 0..<10 { #expect(try await sinch.wabaDetails(token).status == 200) }
            #expect(sinch.transport.connectionsOpened == 1)
            #expect(sinch.fake.stats().connections == 1)

            let other = try sinch.newTransport()
            _ = try await sinch.call(.enableTemplateAnalytics, using: other)
            #expect(sinch.fake.stats().connections == 2)
        }
    }

    @Test func concurrentSlowRequestsRaiseMaxInFlight() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            sinch.fake.inject(FakeSinchFaultRule(.latency(.milliseconds(500)), endpoint: .enableTemplateAnalytics))
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<8 {
                    group.addTask { try await sinch.call(.enableTemplateAnalytics).status }
                }
                for try await status in group { #expect(status == 200) }
            }
            let stats = sinch.fake.stats()
            // Eight requests sleeping half a second each: at least two of them overlapped.
            #expect((2...8).contains(stats.maxInFlight))
            #expect(stats.connections >= stats.maxInFlight)
            #expect(stats.count(.enableTemplateAnalytics, status: 200) == 8)
        }
    }

    @Test func resetStatsStartsOver() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            _ = try await sinch.refresh(sinch.fake.issueToken())
            sinch.fake.resetStats()
            let stats = sinch.fake.stats()
            #expect(stats.requests.isEmpty && stats.exchangesPerLineage.isEmpty && stats.requestsPerSecond.isEmpty)
            #expect(stats.connections == 0 && stats.maxInFlight == 0 && stats.oauthTokensIssued == 0)
        }
    }

    @Test func theAdminAPIControlsTokensFaultsAndStats() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            func admin(
                _ method: HTTPRequest.Method,
                _ path: String,
                _ body: String? = nil
            ) async throws
                -> HTTPResponse
            {
                try await sinch.send(method, "/_fake/" + path, body: body, authorization: nil)
            }
            func object(_ response: HTTPResponse) throws -> [String: Any] {
                try #require(JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
            }

            let code = try object(try await admin(.post, "codes", #"{"lineage":"ln_frank"}"#))
            #expect(code["lineage"] as? String == "ln_frank")
            let codeValue = try #require(code["code"] as? String)
            #expect(
                sinch.fake.lineage(of: try #require(try await sinch.exchange(code: codeValue).issuedToken))
                    == "ln_frank"
            )
            #expect(try object(try await admin(.post, "codes"))["lineage"] as? String != nil)

            let minted = try object(try await admin(.post, "tokens", #"{"lifetime_seconds":120}"#))
            let token = try #require(minted["token"] as? String)
            #expect(minted["expires_at"] as? Double == sinch.clock.secondsSince1970 + 120)
            #expect(minted["lineage"] as? String == sinch.fake.lineage(of: token))
            #expect(sinch.fake.isValid(token))

            let valid = try object(try await admin(.post, "validate", #"{"token":"\#(token)"}"#))
            #expect(valid["valid"] as? Bool == true)
            #expect(valid["lineage"] as? String == sinch.fake.lineage(of: token))
            #expect(try await admin(.post, "revoke", #"{"token":"\#(token)"}"#).status == 204)
            #expect(
                try object(try await admin(.post, "validate", #"{"token":"\#(token)"}"#))["valid"] as? Bool == false
            )
            let unknown = try object(try await admin(.post, "validate", #"{"token":"EAAGnope"}"#))
            #expect(unknown["valid"] as? Bool == false)
            #expect(unknown["lineage"] is NSNull)
            let lineageToken = sinch.fake.issueToken(lineage: "ln_gina")
            #expect(try await admin(.post, "revoke", #"{"lineage":"ln_gina"}"#).status == 204)
            #expect(!sinch.fake.isValid(lineageToken))
            #expect(try await admin(.post, "revoke", "{}").status == 400)

            let rule = #"{"fault":{"error":{"status":500,"code":"internal_error"}},"endpoint":"wabaDetails","count":1}"#
            #expect(try await admin(.post, "faults", rule).status == 204)
            #expect(try await sinch.wabaDetails(sinch.fake.issueToken()).status == 500)
            #expect(try await admin(.post, "faults", #"{"fault":"hang","endpoint":"wabaDetails"}"#).status == 204)
            #expect(
                try RawHTTP.status(method: "DELETE", port: try #require(sinch.fake.port), path: "/_fake/faults") == 204
            )
            #expect(try await sinch.wabaDetails(sinch.fake.issueToken()).status == 200)
            #expect(try await admin(.post, "faults", #"{"fault":{"nonsense":{}}}"#).status == 400)

            let statsResponse = try await admin(.get, "stats")
            #expect(statsResponse.status == 200)
            let stats = try statsResponse.decode(FakeSinchStats.self)
            #expect(stats.count(.wabaDetails) == 2)
            #expect(stats.count(.longLivedAccessToken) == 1)
            #expect(try await admin(.post, "stats/reset").status == 204)
            #expect(sinch.fake.stats().requests.isEmpty)

            #expect(try await admin(.get, "codes").status == 405)
            #expect(try await admin(.get, "nothing").status == 404)
        }
    }

    @Test(
        arguments: [
            FakeSinchFault.error(status: 500, code: "internal_error"), .unauthorized,
            .tooManyRequests(retryAfter: "2"), .tooManyRequests(retryAfter: nil), .latency(.milliseconds(250)), .hang,
            .reset, .emptyBody(status: 502), .truncatedBody, .html(status: 502), .oversizedBody(bytes: 2_000_000),
            .successWithoutToken,
        ]
    )
    func faultRulesRoundTripThroughJSON(fault: FakeSinchFault) throws {
        let rule = FakeSinchFaultRule(fault, endpoint: .oauthToken, lineage: "ln_x", project: "p9", count: 3, rate: 0.5)
        let decoded = try JSONDecoder().decode(FakeSinchFaultRule.self, from: JSONEncoder().encode(rule))
        #expect(decoded.fault == fault)
        #expect(decoded.endpoint == .oauthToken && decoded.lineage == "ln_x" && decoded.project == "p9")
        #expect(decoded.count == 3 && decoded.rate == 0.5)
    }

    @Test func theDocumentedJSONFormsDecode() throws {
        func fault(_ json: String) throws -> FakeSinchFault {
            try JSONDecoder().decode(FakeSinchFaultRule.self, from: Data(#"{"fault":\#(json)}"#.utf8)).fault
        }
        #expect(try fault(#"{"latency":{"seconds":0.25}}"#) == .latency(.milliseconds(250)))
        #expect(try fault(#""reset""#) == .reset)
        #expect(try fault(#"{"tooManyRequests":{}}"#) == .tooManyRequests(retryAfter: nil))
        #expect(try fault(#"{"oversizedBody":{"bytes":10}}"#) == .oversizedBody(bytes: 10))
        let rule = try JSONDecoder().decode(FakeSinchFaultRule.self, from: Data(#"{"fault":"hang"}"#.utf8))
        #expect(rule.rate == 1 && rule.count == nil && rule.endpoint == nil)
        #expect(throws: DecodingError.self) { try fault(#""html""#) }
    }
}
