import Foundation
import Logging
import SinchProvisioning
import Synchronization
import Testing
import TokenKeeperTesting

/// An answer that echoes everything it was sent never carries a secret into an error or a log.
/// Below the transport protocol: FakeSinch never echoes, a hostile gateway might.
@Suite struct SinchScrubbingTests {
    /// Answers the token endpoint with a bearer, and every API call with a 400 whose message
    /// repeats the request's `Authorization` header, its credential alone, and its body.
    struct EchoingTransport: HTTPTransport {
        static let bearer = "eyJhbGciOiJSUzI1NiJ9.echo-bearer.signature"

        func send(_ request: HTTPRequest) async throws(TransportError) -> HTTPResponse {
            if request.url.hasSuffix("/oauth2/token") {
                let body = #"{"access_token":"\#(Self.bearer)","token_type":"Bearer","expires_in":3600}"#
                return HTTPResponse(status: 200, body: Array(body.utf8))
            }
            let authorization = request.headers.first { $0.name == "Authorization" }?.value ?? ""
            let credential = authorization.split(separator: " ").last.map(String.init) ?? ""
            let echoed = "\(authorization) | \(credential) | \(String(decoding: request.body, as: UTF8.self))"
            let body = try! JSONSerialization.data(withJSONObject: [
                "errorCode": "invalid_input", "message": echoed,
            ])
            return HTTPResponse(status: 400, headers: ["content-type": "application/json"], body: Array(body))
        }
    }

    @Test(arguments: [SinchAuthentication.oauth2, .basic])
    func echoedSecretsAreRedacted(authentication: SinchAuthentication) async throws {
        let secret = "key-secret-0123456789"
        let basic = Data("key-id:\(secret)".utf8).base64EncodedString()
        let token = "EAAGtoken0123456789abcdef"
        let code = "AQcode0123456789abcdef"
        let logs = RecordingLogHandler.Lines()
        let client = SinchClient(
            configuration: SinchConfiguration(
                provisioningURL: "https://sinch.invalid",
                authURL: "https://auth.sinch.invalid/oauth2/token",
                credentials: SinchCredentials(keyID: "key-id", keySecret: secret, source: "test"),
                authentication: authentication
            ),
            transport: EchoingTransport(),
            logger: RecordingLogHandler.logger(into: logs)
        )
        var errors: [SinchError] = []
        do { _ = try await client.refresh(token: token, project: "p1") } catch { errors.append(error) }
        do { _ = try await client.exchangeCode(code, project: "p1") } catch { errors.append(error) }
        do { _ = try await client.wabaDetails(token: token, project: "p1") } catch { errors.append(error) }
        do { try await client.enableTemplateAnalytics(project: "p1") } catch { errors.append(error) }
        #expect(errors.count == 4)
        #expect(errors.allSatisfy { $0.message.contains("[redacted]") })
        let written = errors.map(\.description).joined(separator: "\n") + logs.text
        for value in [secret, basic, token, code, EchoingTransport.bearer] {
            #expect(!written.contains(value), "\(value) leaked")
        }
    }

    /// Answers every API call with a 400 that quotes the token in part and base64-encoded: no
    /// longer the exact value, so only its shape can give it away.
    struct PartialEchoTransport: HTTPTransport {
        func send(_ request: HTTPRequest) async throws(TransportError) -> HTTPResponse {
            if request.url.hasSuffix("/oauth2/token") {
                let body = #"{"access_token":"bearer-value-for-test","token_type":"Bearer","expires_in":3600}"#
                return HTTPResponse(status: 200, body: Array(body.utf8))
            }
            let sent = try! JSONSerialization.jsonObject(with: Data(request.body)) as! [String: String]
            let token = sent.values.max { $0.count < $1.count } ?? ""
            let echoed =
                "token starting \(token.prefix(40)) is invalid (b64: \(Data(token.utf8).base64EncodedString()));"
                + " facebook_Request_limit_reached after 1200 calls"
            let body = try! JSONSerialization.data(withJSONObject: ["errorCode": "invalid_input", "message": echoed])
            return HTTPResponse(status: 400, headers: ["content-type": "application/json"], body: Array(body))
        }
    }

    @Test func aTokenEchoedInPartOrEncodedIsRedactedAndWordsStay() async throws {
        let token = "EAAG" + String(repeating: "Zx7q", count: 50)
        let client = SinchClient(
            configuration: SinchConfiguration(
                provisioningURL: "https://sinch.invalid",
                authURL: "https://auth.sinch.invalid/oauth2/token",
                credentials: SinchCredentials(keyID: "key-id", keySecret: "key-secret-0123456789", source: "test"),
                authentication: .oauth2
            ),
            transport: PartialEchoTransport(),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        do {
            _ = try await client.refresh(token: token, project: "p1")
            Issue.record("the 400 was taken for a success")
        } catch {
            #expect(!error.message.contains(String(token.prefix(20))), "\(error.message)")
            #expect(!error.message.contains(String(Data(token.utf8).base64EncodedString().prefix(20))))
            #expect(error.message.contains("token starting [redacted] is invalid"), "\(error.message)")
            #expect(error.message.contains("facebook_Request_limit_reached after 1200 calls"))
        }
    }
}
