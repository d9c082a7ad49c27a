import Foundation
import Logging
import WallTime

/// Produces the `Authorization` header for Provisioning API calls.
///
/// With OAuth2 the bearer token is cached and renewed a margin before it expires; callers that
/// need it while a renewal is running wait for that renewal instead of starting their own.
final class SinchAuthenticator: Sendable {
    private let configuration: SinchConfiguration
    private let transport: any HTTPTransport
    private let logger: Logger
    private let clock: any WallClock
    private let cache: BearerCache
    let basicAuthorization: String

    init(
        configuration: SinchConfiguration,
        transport: any HTTPTransport,
        logger: Logger,
        clock: any WallClock
    ) {
        self.configuration = configuration
        self.transport = transport
        self.logger = logger
        self.clock = clock
        self.cache = BearerCache()
        let pair = "\(configuration.credentials.keyID):\(configuration.credentials.keySecret)"
        basicAuthorization = "Basic " + Data(pair.utf8).base64EncodedString()
    }

    /// Whether a 401 from the API is worth one renewal and one retry.
    var renewsOnRejection: Bool { configuration.authentication == .oauth2 }

    /// The header value to send now.
    func authorization() async throws(SinchError) -> String {
        switch configuration.authentication {
        case .basic:
            return basicAuthorization
        case .oauth2:
            let bearer = try await cache.bearer(now: clock.secondsSince1970) {
                () async throws(SinchError) -> BearerCache.Bearer in
                try await self.requestBearer()
            }
            return "Bearer " + bearer
        }
    }

    /// Forgets `authorization` after the API refused it, so the next call renews.
    func rejected(_ authorization: String) async {
        guard authorization.hasPrefix("Bearer ") else { return }
        await cache.invalidate(String(authorization.dropFirst("Bearer ".count)))
    }

    /// Every secret this authenticator may put on the wire, for scrubbing messages: the key
    /// secret, and the Basic credential whole and bare.
    var secrets: [String] { [configuration.credentials.keySecret] + Self.secretParts(of: basicAuthorization) }

    /// An `Authorization` value and its credential alone (an answer may echo either).
    static func secretParts(of authorization: String) -> [String] {
        guard let space = authorization.firstIndex(of: " ") else { return [authorization] }
        return [authorization, String(authorization[authorization.index(after: space)...])]
    }

    private func requestBearer() async throws(SinchError) -> BearerCache.Bearer {
        let request = HTTPRequest(
            method: .post,
            url: configuration.authURL,
            headers: [
                ("Authorization", basicAuthorization),
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Accept", "application/json"),
            ],
            body: Array("grant_type=client_credentials".utf8)
        )
        let started = ContinuousClock.now
        // The bearer's lifetime counts from the request, not the answer: renew early, never late.
        let requestedAt = clock.secondsSince1970
        let response: HTTPResponse
        do {
            response = try await transport.send(request)
        } catch {
            throw SinchClassification.classify(error)
        }
        logger.debug(
            "OAuth2 token request",
            metadata: [
                "http.status": "\(response.status)",
                "latency_ms": "\((ContinuousClock.now - started).milliseconds)",
            ]
        )
        guard (200..<300).contains(response.status) else {
            var error = SinchResponseReader.error(from: response, secrets: secrets, now: clock.secondsSince1970)
            if error.errorClass == .credentials {
                error.message =
                    "Sinch's OAuth2 endpoint refused the access key from "
                    + "\(configuration.credentials.source): \(error.message)"
            }
            throw error
        }
        // The value goes into a header line: anything but visible ASCII could split it.
        guard let body = try? JSONDecoder().decode(OAuthTokenResponse.self, from: Data(response.body)),
            !body.accessToken.isEmpty, body.accessToken.utf8.allSatisfy({ (0x21...0x7e).contains($0) })
        else {
            throw SinchError(
                .transient,
                status: response.status,
                code: "malformed_response",
                message: "the OAuth2 token endpoint answered without an access_token"
            )
        }
        let lifetime = max(1, body.expiresIn ?? 3600)
        let margin = min(Double(configuration.bearerRenewalMargin.components.seconds), lifetime / 2)
        return BearerCache.Bearer(
            value: body.accessToken,
            renewAt: requestedAt + lifetime - margin,
            expiresAt: requestedAt + lifetime
        )
    }
}
