import FakeSinch
import Foundation
import SinchProvisioning
import Testing

/// FakeSinch over real HTTP (libcurl to 127.0.0.1): tokens, codes, credentials and OAuth2.
/// Faults are in `FakeSinchFaultTests.swift`, statistics and the admin API in `FakeSinchStatsTests.swift`.
@Suite struct FakeSinchTests {
    @Test func startsOnAnEphemeralPortAndStopsTwice() async throws {
        let fake = FakeSinch()
        let port = try await fake.start()
        #expect(port > 0)
        #expect(fake.port == port)
        #expect(fake.baseURL == "http://127.0.0.1:\(port)")
        #expect(fake.authURL == "http://127.0.0.1:\(port)/oauth2/token")
        await fake.stop()
        await fake.stop()
        #expect(fake.port == nil)
    }

    @Test func startingOnAPortInUseThrowsAndLeavesTheFakeStopped() async throws {
        let first = FakeSinch()
        let port = try await first.start()
        let second = FakeSinch()
        await #expect(throws: (any Error).self) { try await second.start(port: port) }
        #expect(second.port == nil)
        await first.stop()
    }

    @Test func issuedStringsLookLikeMetas() throws {
        let fake = FakeSinch()
        let token = fake.issueToken()
        #expect(token.hasPrefix("EAAG") && token.count == 64)
        #expect(token.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
        let code = fake.issueCode()
        #expect(code.hasPrefix("AQ") && code.count == 42)
        let lineage = try #require(fake.lineage(of: token))
        #expect(lineage.hasPrefix("ln_") && lineage.count == 11)
    }

    @Test func aCodeIsExchangedOnceIntoATokenOfItsLineage() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            let code = sinch.fake.issueCode(lineage: "ln_alice")
            let first = try await sinch.exchange(code: code)
            #expect(first.status == 201)
            let token = try #require(first.issuedToken)
            #expect(sinch.fake.isValid(token))
            #expect(sinch.fake.lineage(of: token) == "ln_alice")
            #expect(sinch.fake.expiry(of: token) == sinch.clock.secondsSince1970 + 60 * 24 * 3600)

            let second = try await sinch.exchange(code: code)
            #expect(second.status == 400)
            #expect(second.errorCode == "invalid_facebook_code")
            #expect(!second.text.contains(code))
            #expect(try await sinch.exchange(code: "AQnotacode").errorCode == "invalid_facebook_code")
        }
    }

    @Test func aRefreshMintsANewTokenAndTheOldOneLivesUntilItsExpiry() async throws {
        try await FakeSinchHarness.with(configure: { $0.tokenLifetime = .seconds(1000) }) { sinch async throws in
            let start = sinch.clock.secondsSince1970
            let old = try #require(try await sinch.exchange(code: sinch.fake.issueCode()).issuedToken)
            sinch.clock.advance(by: .seconds(100))

            let refreshed = try await sinch.refresh(old)
            #expect(refreshed.status == 201)
            let new = try #require(refreshed.issuedToken)
            #expect(new != old)
            #expect(sinch.fake.lineage(of: new) == sinch.fake.lineage(of: old))
            #expect(sinch.fake.expiry(of: new) == start + 1100)
            #expect(sinch.fake.isValid(old))
            #expect(try await sinch.refresh(old).status == 201)

            sinch.clock.advance(by: .seconds(901))
            #expect(!sinch.fake.isValid(old))
            #expect(sinch.fake.isValid(new))
            let expired = try await sinch.refresh(old)
            #expect(expired.status == 400)
            #expect(expired.errorCode == "invalid_facebook_token")
            #expect(!expired.text.contains(old))
            #expect(try await sinch.refresh(new).status == 201)
        }
    }

    @Test func revokedTokensAndLineagesAreInvalid() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            let token = sinch.fake.issueToken(lineage: "ln_bob")
            let sibling = sinch.fake.issueToken(lineage: "ln_bob")
            let stranger = sinch.fake.issueToken()
            sinch.fake.revoke(token: token)
            #expect(!sinch.fake.isValid(token))
            #expect(try await sinch.refresh(token).errorCode == "invalid_facebook_token")
            #expect(try await sinch.refresh(sibling).status == 201)

            sinch.fake.revoke(lineage: "ln_bob")
            #expect(!sinch.fake.isValid(sibling))
            #expect(try await sinch.refresh(sibling).errorCode == "invalid_facebook_token")
            #expect(try await sinch.wabaDetails(sibling).errorCode == "invalid_facebook_token")
            let code = sinch.fake.issueCode(lineage: "ln_bob")
            #expect(try await sinch.exchange(code: code).errorCode == "invalid_facebook_code")
            #expect(try await sinch.refresh(stranger).status == 201)
            #expect(try await sinch.refresh("EAAGunknown").errorCode == "invalid_facebook_token")
        }
    }

    @Test func aTokenMintedWithALifetimeExpiresThen() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            let token = sinch.fake.issueToken(lifetime: .seconds(30))
            #expect(sinch.fake.expiry(of: token) == sinch.clock.secondsSince1970 + 30)
            sinch.clock.advance(by: .seconds(30))
            #expect(!sinch.fake.isValid(token))
            #expect(try await sinch.refresh(token).errorCode == "invalid_facebook_token")
        }
    }

    @Test(
        arguments: [
            (#"{"facebookToken": "#, "invalid_payload"),
            ("[]", "invalid_payload"),
            (#"{"facebookToken": 42}"#, "invalid_payload"),
            ("{}", "invalid_input"),
            (#"{"facebookToken": ""}"#, "invalid_input"),
            (#"{"facebookCode": "AQx", "businessManager": "SINCH_MARS"}"#, "invalid_business_manager"),
        ]
    )
    func aMalformedRequestGetsItsErrorCode(body: String, errorCode: String) async throws {
        try await FakeSinchHarness.with { sinch async throws in
            let response = try await sinch.call(.longLivedAccessToken, body: body)
            #expect(response.status == 400)
            #expect(response.headers["content-type"] == "application/json")
            let error = try response.decode(FakeSinchWire.PAPIError.self)
            #expect(error.errorCode == errorCode)
            #expect(!error.message.isEmpty && !error.resolution.isEmpty)
        }
    }

    @Test func aKnownBusinessManagerIsAccepted() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            let code = sinch.fake.issueCode()
            let body = #"{"facebookCode":"\#(code)","businessManager":"SINCH_SEP"}"#
            #expect(try await sinch.call(.longLivedAccessToken, body: body).status == 201)
        }
    }

    @Test func wabaDetailsDescribeTheTokensLineage() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            let token = sinch.fake.issueToken(lineage: "ln_0000abcd")
            let response = try await sinch.wabaDetails(token)
            #expect(response.status == 200)
            let details = try response.decode(FakeSinchWire.WABAs.self)
            let waba = try #require(details.wabas.first)
            #expect(!waba.id.isEmpty && waba.id.allSatisfy(\.isNumber))
            #expect(waba.name == "WABA ln_0000abcd")
            #expect(waba.numbers.first?.displayPhoneNumber == "+46 70 123 45 67")
            #expect(waba.numbers.first?.provisioned == true)
            let sibling = sinch.fake.issueToken(lineage: "ln_0000abcd")
            #expect(try await sinch.wabaDetails(sibling).decode(FakeSinchWire.WABAs.self).wabas.first?.id == waba.id)
            #expect(try await sinch.call(.wabaDetails, body: "{}").errorCode == "invalid_input")
        }
    }

    @Test func textThatJSONMustEscapeComesBackIntact() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            let lineage = "ln_\"quoted\" back\\slash\nnew line\u{1}é"
            let token = sinch.fake.issueToken(lineage: lineage)
            let response = try await sinch.wabaDetails(token)
            #expect(try response.decode(FakeSinchWire.WABAs.self).wabas.first?.name == "WABA \(lineage)")
        }
    }

    @Test func enableTemplateAnalyticsAnswersAnEmptyOK() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            let response = try await sinch.call(.enableTemplateAnalytics)
            #expect(response.status == 200)
            #expect(response.body.isEmpty)
        }
    }

    @Test func unknownPathsAre404AndWrongMethods405() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            let missing = try await sinch.send(
                .post,
                "/v1/projects/p1/whatsapp/nothing",
                body: "{}",
                authorization: nil
            )
            #expect(missing.status == 404)
            #expect(missing.errorCode != nil)
            let wrong = try await sinch.send(.get, "/v1/projects/p1/whatsapp/longLivedAccessToken", authorization: nil)
            #expect(wrong.status == 405)
            #expect(wrong.headers["allow"] == "POST")
            #expect(
                try await sinch.send(.post, "/v1/projects/p1/whatsapp/enableTemplateAnalytics", authorization: nil)
                    .status == 405
            )
        }
    }

    @Test func aWrongOrMissingKeyGets401ProblemJSON() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            let token = sinch.fake.issueToken()
            for authorization in [
                sinch.basic("fake-key-id", "wrong"), sinch.basic("other", nil), "Basic !!!", "Token x",
            ] {
                let response = try await sinch.wabaDetails(token, authorization: authorization)
                #expect(response.status == 401)
                #expect(response.headers["content-type"] == "application/problem+json")
                #expect(try response.decode(FakeSinchWire.Problem.self).title == "Unauthorized")
            }
            let anonymous = try await sinch.send(
                .post,
                "/v1/projects/p1/whatsapp/wabaDetails",
                body: #"{"facebookToken":"\#(token)"}"#,
                authorization: nil
            )
            #expect(anonymous.status == 401)
            #expect(sinch.fake.isValid(token))
        }
    }

    @Test func aBearerFromOAuth2IsAcceptedUntilItExpires() async throws {
        try await FakeSinchHarness.with(configure: { $0.bearerLifetime = .seconds(600) }) { sinch async throws in
            let response = try await sinch.oauthToken()
            #expect(response.status == 200)
            let answer = try response.decode(FakeSinchWire.OAuthAnswer.self)
            #expect(answer.access_token.hasPrefix("fake-jwt."))
            #expect(answer.token_type == "Bearer")
            #expect(answer.expires_in == 600)
            #expect(answer.scope == "")

            let token = sinch.fake.issueToken()
            let bearer = "Bearer \(answer.access_token)"
            #expect(try await sinch.wabaDetails(token, authorization: bearer).status == 200)
            #expect(try await sinch.wabaDetails(token, authorization: "Bearer fake-jwt.forged").status == 401)
            sinch.clock.advance(by: .seconds(600))
            let expired = try await sinch.wabaDetails(token, authorization: bearer)
            #expect(expired.status == 401)
            #expect(expired.headers["content-type"] == "application/problem+json")
            #expect(sinch.fake.stats().oauthTokensIssued == 1)
        }
    }

    @Test func theTokenEndpointWantsTheKeyAndClientCredentials() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            let wrongKey = try await sinch.oauthToken(authorization: sinch.basic(nil, "nope"))
            #expect(wrongKey.status == 401)
            #expect(wrongKey.headers["content-type"] == "application/problem+json")
            let wrongGrant = try await sinch.oauthToken(form: "grant_type=password&username=x")
            #expect(wrongGrant.status == 400)
            #expect(wrongGrant.text == #"{"error":"unsupported_grant_type"}"#)
            #expect(try await sinch.oauthToken(form: "scope=&grant_type=client_credentials").status == 200)
            // A bearer is not a key: the token endpoint takes Basic only.
            let bearer = try await sinch.oauthToken().decode(FakeSinchWire.OAuthAnswer.self).access_token
            #expect(try await sinch.oauthToken(authorization: "Bearer \(bearer)").status == 401)
        }
    }

    @Test func theTokenEndpointsBucketAnswers429WithoutRetryAfter() async throws {
        try await FakeSinchHarness.with { sinch async throws in
            // The clock stands still, so the bucket of 30 does not refill during the burst.
            for _ in 0..<30 { #expect(try await sinch.oauthToken().status == 200) }
            let limited = try await sinch.oauthToken()
            #expect(limited.status == 429)
            #expect(limited.headers["retry-after"] == nil)
            #expect(limited.headers["content-type"] == "application/problem+json")
            #expect(try limited.decode(FakeSinchWire.Problem.self).title == "Too Many Requests")

            sinch.clock.advance(by: .seconds(1))
            for _ in 0..<10 { #expect(try await sinch.oauthToken().status == 200) }
            #expect(try await sinch.oauthToken().status == 429)
            #expect(sinch.fake.stats().count(.oauthToken, status: 429) == 2)
            #expect(sinch.fake.stats().oauthTokensIssued == 40)
        }
    }

    @Test func withoutTheRateLimitTheTokenEndpointNeverSays429() async throws {
        try await FakeSinchHarness.with(configure: { $0.oauthRateLimit = false }) { sinch async throws in
            for _ in 0..<40 { #expect(try await sinch.oauthToken().status == 200) }
        }
    }
}
