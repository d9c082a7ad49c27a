import Foundation
import Logging
import WallTime

/// The Sinch Provisioning API's WhatsApp calls that tokenkeeper drives.
///
/// Every failure is a classified ``SinchError``. Token, code and key values are sent, never
/// logged, and scrubbed from any message an answer echoes back.
public final class SinchClient: Sendable {
    private let configuration: SinchConfiguration
    private let transport: any HTTPTransport
    private let authenticator: SinchAuthenticator
    private let logger: Logger
    private let clock: any WallClock

    /// - Parameter clock: the wall clock; decides bearer renewal and `Retry-After` dates.
    public init(
        configuration: SinchConfiguration,
        transport: any HTTPTransport,
        logger: Logger,
        clock: any WallClock = SystemClock()
    ) {
        self.configuration = configuration
        self.transport = transport
        self.logger = logger
        self.clock = clock
        authenticator = SinchAuthenticator(
            configuration: configuration,
            transport: transport,
            logger: logger,
            clock: clock
        )
    }

    /// Exchanges a single-use Embedded Signup code for a long-lived token.
    public func exchangeCode(
        _ code: String,
        project: String,
        businessManager: String? = nil
    )
        async throws(SinchError) -> String
    {
        try await longLivedAccessToken(
            LongLivedAccessTokenRequest(facebookCode: code, businessManager: businessManager),
            secret: code,
            project: project,
            call: "exchange"
        )
    }

    /// Exchanges a long-lived token for a fresh one (the refresh). The old token stays valid
    /// until its own expiry; Meta may return the same string.
    public func refresh(
        token: String,
        project: String,
        businessManager: String? = nil
    )
        async throws(SinchError) -> String
    {
        try await longLivedAccessToken(
            LongLivedAccessTokenRequest(facebookToken: token, businessManager: businessManager),
            secret: token,
            project: project,
            call: "refresh"
        )
    }

    /// The WABAs and phone numbers `token` can reach.
    public func wabaDetails(token: String, project: String) async throws(SinchError) -> [WABA] {
        let body = encode(WABADetailsRequest(facebookToken: token))
        let response = try await send(
            .post,
            path: "wabaDetails",
            project: project,
            body: body,
            secrets: [token],
            call: "waba_details"
        )
        guard let details = try? JSONDecoder().decode(WABADetailsResponse.self, from: Data(response.body)) else {
            throw SinchError(
                .transient,
                status: response.status,
                code: "malformed_response",
                message: "wabaDetails answered \(response.status) without a readable `wabas` list"
            )
        }
        // Sinch's strings are shown and logged: one that echoes the token (a WABA named after
        // it, by a bug or on purpose) must not carry it there.
        return details.wabas.map { $0.redacting(secrets: [token]) }
    }

    /// Turns on template analytics for the project's WABA.
    public func enableTemplateAnalytics(project: String) async throws(SinchError) {
        _ = try await send(
            .put,
            path: "enableTemplateAnalytics",
            project: project,
            body: [],
            secrets: [],
            call: "enable_template_analytics"
        )
    }

    private func longLivedAccessToken(
        _ request: LongLivedAccessTokenRequest,
        secret: String,
        project: String,
        call: String
    ) async throws(SinchError) -> String {
        let response = try await send(
            .post,
            path: "longLivedAccessToken",
            project: project,
            body: encode(request),
            secrets: [secret],
            call: call
        )
        guard let body = try? JSONDecoder().decode(LongLivedAccessTokenResponse.self, from: Data(response.body)),
            let token = body.longLivedAccessToken, !token.isEmpty
        else {
            throw SinchError(
                .transient,
                status: response.status,
                code: "malformed_response",
                message: "longLivedAccessToken answered \(response.status) without a longLivedAccessToken"
            )
        }
        return token
    }

    /// Sends one call; returns the 2xx answer, renewing a refused bearer token once.
    private func send(
        _ method: HTTPRequest.Method,
        path: String,
        project: String,
        body: [UInt8],
        secrets: [String],
        call: String
    ) async throws(SinchError) -> HTTPResponse {
        let url = "\(configuration.provisioningURL)/v1/projects/\(Self.pathSegment(project))/whatsapp/\(path)"
        var logger = self.logger
        logger[metadataKey: "sinch.project"] = "\(project)"
        logger[metadataKey: "sinch.call"] = "\(call)"
        let scrubbed = secrets + authenticator.secrets
        var renewed = false
        while true {
            let authorization = try await authenticator.authorization()
            var headers: [(name: String, value: String)] = [
                ("Authorization", authorization),
                ("Accept", "application/json"),
            ]
            if method != .get { headers.append(("Content-Type", "application/json")) }
            let started = ContinuousClock.now
            let response: HTTPResponse
            do {
                response = try await transport.send(HTTPRequest(method: method, url: url, headers: headers, body: body))
            } catch {
                let failure = SinchClassification.classify(error)
                logger.debug("Sinch call failed", metadata: ["error.code": "\(failure.code)"])
                throw failure
            }
            logger.debug(
                "Sinch call answered",
                metadata: [
                    "http.status": "\(response.status)",
                    "latency_ms": "\((ContinuousClock.now - started).milliseconds)",
                ]
            )
            if (200..<300).contains(response.status) { return response }
            if response.status == 401, authenticator.renewsOnRejection, !renewed {
                renewed = true
                await authenticator.rejected(authorization)
                continue
            }
            var error = SinchResponseReader.error(
                from: response,
                secrets: scrubbed + SinchAuthenticator.secretParts(of: authorization),
                now: clock.secondsSince1970
            )
            if error.errorClass == .credentials {
                error.message =
                    "Sinch refused the access key from \(configuration.credentials.source)"
                    + (error.message.isEmpty ? "" : ": \(error.message)")
            }
            throw error
        }
    }

    private func encode(_ value: some Encodable) -> [UInt8] {
        // Encoding plain string fields cannot fail.
        (try? Array(JSONEncoder().encode(value))) ?? []
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters.
    static func pathSegment(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                result += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return result
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
