import Testing

@testable import SinchProvisioning

/// The classification table of the Sinch API notes (TokenKeeper.docc/SinchAPI.md), row by row, below the HTTP layer.
@Suite struct SinchClassificationTests {
    @Test(
        arguments: [
            (400, "invalid_facebook_token", SinchErrorClass.permanent),
            (500, "log_in_facebook_required", .permanent),
            (400, "invalid_input", .badRequest),
            (400, "invalid_payload", .badRequest),
            (400, "invalid_business_manager", .badRequest),
            (400, "invalid_business_manager_for_environment", .badRequest),
            (400, "invalid_facebook_code", .badRequest),
            (400, "project_not_initialized", .badRequest),
            (401, "unauthorized_error", .credentials),
            (403, nil, .credentials),
            (302, nil, .badRequest),
            (404, "not_found", .badRequest),
            (429, nil, .throttled),
            (500, "facebook_Request_limit_reached", .throttled),
            (500, "internal_error", .transient),
            (502, nil, .transient),
            (503, nil, .transient),
            (424, "template_insights_not_yet_available", .transient),
        ] as [(Int, String?, SinchErrorClass)]
    )
    func classifiesEachRowOfTheTable(status: Int, code: String?, expected: SinchErrorClass) {
        #expect(SinchClassification.classify(status: status, errorCode: code) == expected)
    }

    @Test(arguments: [
        (TransportError.Kind.timeout, "timeout"),
        (.connection, "connection_error"),
        (.tls, "tls_error"),
        (.responseTooLarge, "response_too_large"),
    ])
    func requestsWithoutAnAnswerAreTransient(kind: TransportError.Kind, code: String) {
        let error = SinchClassification.classify(TransportError(kind: kind, detail: "x"))
        #expect(error.errorClass == .transient)
        #expect(error.code == code)
        #expect(error.status == nil)
    }

    @Test func aCancelledCallSaysNothingAboutTheToken() {
        let error = SinchClassification.classify(TransportError(kind: .cancelled, detail: "x"))
        #expect(error.errorClass == .cancelled)
    }

    @Test func readsAPAPIErrorBody() {
        let body = """
            {"errorCode":"invalid_input","message":"Invalid input.","resolution":"Fix it.",
             "additionalInformation":{"validationErrors":["facebookToken is required"]}}
            """
        let error = SinchResponseReader.error(
            from: HTTPResponse(status: 400, body: Array(body.utf8)),
            secrets: [],
            now: 0
        )
        #expect(error.errorClass == .badRequest)
        #expect(error.code == "invalid_input")
        #expect(error.message == "Invalid input. (facebookToken is required)")
    }

    @Test func readsAnRFC7807Body() {
        let body = #"{"type":"about:blank","title":"Unauthorized","detail":"Bearer token expired"}"#
        let error = SinchResponseReader.error(
            from: HTTPResponse(status: 401, body: Array(body.utf8)),
            secrets: [],
            now: 0
        )
        #expect(error.errorClass == .credentials)
        #expect(error.code == "http_401")
        #expect(error.message == "Unauthorized: Bearer token expired")
    }

    @Test(arguments: [
        ("<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html", "unreadable body (text/html, 50 bytes)"),
        ("", "application/json", "empty body"),
        (#"{"errorCode":"internal_er"#, "application/json", "unreadable body (application/json, 25 bytes)"),
        ("\u{00}\u{ff}\u{fe}", "application/octet-stream", "unreadable body (application/octet-stream, 5 bytes)"),
    ])
    func describesAnyOtherBodyWithoutQuotingIt(body: String, type: String, message: String) {
        let error = SinchResponseReader.error(
            from: HTTPResponse(status: 502, headers: ["content-type": type], body: Array(body.utf8)),
            secrets: [],
            now: 0
        )
        #expect(error.errorClass == .transient)
        #expect(error.code == "http_502")
        #expect(error.message == message)
    }

    @Test func scrubsSecretsEchoedInAMessage() {
        let token = "EAAGsecretvalue123"
        let body = #"{"errorCode":"invalid_facebook_token","message":"token EAAGsecretvalue123 is invalid"}"#
        let error = SinchResponseReader.error(
            from: HTTPResponse(status: 400, body: Array(body.utf8)),
            secrets: [token],
            now: 0
        )
        #expect(!error.description.contains(token))
        #expect(error.message == "token [redacted] is invalid")
    }

    @Test func capsAndFlattensLongMessages() {
        let long = String(repeating: "a", count: 5_000)
        let body = #"{"errorCode":"internal_error","message":"line one\nline two \#(long)"}"#
        let error = SinchResponseReader.error(
            from: HTTPResponse(status: 500, body: Array(body.utf8)),
            secrets: [],
            now: 0
        )
        #expect(!error.message.contains("\n"))
        #expect(error.message.count <= SinchResponseReader.maxMessageLength + 1)
    }

    @Test(arguments: [
        ("120", Duration.seconds(120)),
        ("0", .zero),
        (" 7 ", .seconds(7)),
        ("Wed, 25 Nov 2026 10:00:30 GMT", .seconds(30)),
        ("Wed, 25 Nov 2026 09:59:00 GMT", .zero),
    ])
    func parsesRetryAfterSecondsAndDates(value: String, expected: Duration) {
        // 2026-11-25T10:00:00Z
        #expect(RetryAfter.parse(value, now: 1_795_600_800) == expected)
    }

    @Test(arguments: ["", "soon", "-5", "1.5", "Wed, 25 Nov 2026 10:00:30 PST", "25 Nov 2026 10:00:30 GMT"])
    func ignoresAMalformedRetryAfter(value: String) {
        #expect(RetryAfter.parse(value, now: 1_795_600_800) == nil)
    }

    @Test func retryAfterRidesOnTheError() {
        let error = SinchResponseReader.error(
            from: HTTPResponse(status: 429, headers: ["retry-after": "3"], body: []),
            secrets: [],
            now: 0
        )
        #expect(error.errorClass == .throttled)
        #expect(error.retryAfter == .seconds(3))
    }

    @Test func percentEncodesTheProjectInThePath() {
        #expect(SinchClient.pathSegment("proj-1_a.b~") == "proj-1_a.b~")
        #expect(SinchClient.pathSegment("a/b c?") == "a%2Fb%20c%3F")
    }
}
