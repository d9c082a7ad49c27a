import Logging
import SinchProvisioning

extension TokenKeeperConfiguration {
    /// The Sinch client this configuration describes, over a new libcurl transport.
    ///
    /// Fails with a configuration error (exit 64) naming the settings when the key is missing.
    public func sinchClient(logger: Logger) throws -> SinchClient {
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

extension TokenKeeperError {
    /// The CLI's view of a failed Sinch call made while doing `action` ("exchanging the code").
    ///
    /// Credentials refused, throttling and unreachable Sinch exit 69; an answer that says the
    /// input is wrong (a dead token, a used code, a bad request) exits 65.
    public init(_ error: SinchError, while action: String) {
        let status = error.status.map { "HTTP \($0), " } ?? ""
        let detail = error.message.isEmpty ? "" : ": \(error.message)"
        switch error.errorClass {
        case .credentials:
            // The client's message already names the credential source.
            self.init(.credentialsRefused, "\(error.message) (\(status)\(error.code)), while \(action)")
        case .throttled:
            var retry = ""
            if let after = error.retryAfter { retry = "; Sinch asks to retry after \(after.components.seconds)s" }
            self.init(
                .sinchUnavailable,
                "Sinch is throttling this project while \(action) (\(status)\(error.code))\(detail)\(retry)"
            )
        case .transient:
            self.init(.sinchUnavailable, "Sinch could not be reached while \(action) (\(status)\(error.code))\(detail)")
        case .permanent:
            self.init(.invalidInput, "Meta refused the token while \(action) (\(status)\(error.code))\(detail)")
        case .badRequest:
            self.init(.invalidInput, "Sinch refused the request while \(action) (\(status)\(error.code))\(detail)")
        }
    }
}
