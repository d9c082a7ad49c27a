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
}
