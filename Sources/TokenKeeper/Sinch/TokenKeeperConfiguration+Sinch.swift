import Foundation
import Logging
import SinchProvisioning

extension TokenKeeperConfiguration {
    /// The Sinch client this configuration describes, over a new libcurl transport.
    ///
    /// Fails with a configuration error (exit 64) naming the settings when the key is missing.
    package func sinchClient(logger: Logger) throws -> SinchClient {
        guard let keyID = sinch.keyID, let keySecret = sinch.keySecret else {
            let missing = [
                sinch.keyID == nil ? "SINCH_KEY_ID (sinch.key_id)" : nil,
                sinch.keySecret == nil ? "SINCH_KEY_SECRET (sinch.key_secret)" : nil,
            ].compactMap { $0 }
            throw TokenKeeperError(
                .configuration,
                "this command calls Sinch and needs an access key: set \(missing.joined(separator: " and "))"
            )
        }
        try refuseCleartext(logger: logger)
        if let bundle = sinch.caBundle, !FileManager.default.isReadableFile(atPath: bundle) {
            throw TokenKeeperError(
                .configuration,
                "the CA bundle \(bundle) (SINCH_CA_BUNDLE, sinch.ca_bundle) is missing or not readable"
            )
        }
        let transport: CurlTransport
        do {
            transport = try CurlTransport(
                configuration: CurlTransportConfiguration(
                    connectTimeout: min(.seconds(10), httpTimeout),
                    timeout: httpTimeout,
                    userAgent: "tokenkeeper/\(TokenKeeperVersion.current)",
                    caBundle: sinch.caBundle
                )
            )
        } catch {
            throw TokenKeeperError(.sinchUnavailable, "cannot start the HTTP client: \(error)")
        }
        let configuration = SinchConfiguration(
            provisioningURL: sinch.provisioningURL,
            authURL: sinch.authURL,
            credentials: SinchCredentials(keyID: keyID, keySecret: keySecret, source: sinch.credentialSource),
            authentication: sinch.auth == .basic ? .basic : .oauth2
        )
        return SinchClient(configuration: configuration, transport: transport, logger: logger)
    }

    /// Refuses (exit 64) a plain `http://` Sinch or auth URL whose host is not loopback, before
    /// anything is sent: the access key and every token would cross the network in clear. With
    /// `sinch.allow_insecure_http` it is used, with a warning at every start.
    package func refuseCleartext(logger: Logger) throws {
        for (key, variable, url) in [
            ("sinch.provisioning_url", "SINCH_PROVISIONING_URL", sinch.provisioningURL),
            ("sinch.auth_url", "SINCH_AUTH_URL", sinch.authURL),
        ] {
            guard let parsed = URL(string: url), parsed.scheme?.lowercased() == "http",
                let host = parsed.host, !Self.isLoopback(host)
            else { continue }
            guard sinch.allowInsecureHTTP else {
                throw TokenKeeperError(
                    .configuration,
                    "refusing plain http:// to \(host) in \(key) (\(variable)): the Sinch access key and the tokens "
                        + "would travel in clear; use https://, or set sinch.allow_insecure_http: true "
                        + "(SINCH_ALLOW_INSECURE_HTTP=true) to send them anyway"
                )
            }
            logger.warning(
                "sending the Sinch access key and tokens in clear: \(key) is plain http:// to \(host) and sinch.allow_insecure_http is set"
            )
        }
    }

    /// `localhost`, `127.0.0.0/8` or `::1`: a host whose traffic never leaves the machine.
    static func isLoopback(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare.lowercased() == "localhost" || bare == "::1" { return true }
        let octets = bare.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}
