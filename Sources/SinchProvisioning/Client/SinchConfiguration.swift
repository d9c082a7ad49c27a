/// The Sinch access key, and where it was read from (named in errors; the values never are).
public struct SinchCredentials: Sendable {
    public var keyID: String
    public var keySecret: String
    /// Where the key came from, for messages: "environment (SINCH_KEY_ID, SINCH_KEY_SECRET)".
    public var source: String

    public init(keyID: String, keySecret: String, source: String) {
        self.keyID = keyID
        self.keySecret = keySecret
        self.source = source
    }
}

/// How requests to the Provisioning API are authenticated.
public enum SinchAuthentication: String, Sendable, CaseIterable {
    /// Client credentials exchanged at `/oauth2/token` for a bearer token (the default).
    case oauth2
    /// The key id and secret on every request; Sinch rate limits this heavily.
    case basic
}

/// Where and how the client reaches Sinch.
public struct SinchConfiguration: Sendable {
    public static let defaultProvisioningURL = "https://provisioning.api.sinch.com"
    public static let defaultAuthURL = "https://auth.sinch.com/oauth2/token"
    /// The `businessManager` values the API documents.
    public static let businessManagers = ["SINCH_AMERICA", "SINCH_BR", "SINCH_MX", "SINCH_SEP", "SINCH_UK"]

    /// Base of the Provisioning API, without a trailing slash.
    public var provisioningURL: String
    /// The OAuth2 token endpoint.
    public var authURL: String
    public var credentials: SinchCredentials
    public var authentication: SinchAuthentication
    /// A bearer token is renewed this long before it expires.
    public var bearerRenewalMargin: Duration

    public init(
        provisioningURL: String = SinchConfiguration.defaultProvisioningURL,
        authURL: String = SinchConfiguration.defaultAuthURL,
        credentials: SinchCredentials,
        authentication: SinchAuthentication = .oauth2,
        bearerRenewalMargin: Duration = .seconds(60)
    ) {
        var base = provisioningURL
        while base.hasSuffix("/") { base.removeLast() }
        self.provisioningURL = base
        self.authURL = authURL
        self.credentials = credentials
        self.authentication = authentication
        self.bearerRenewalMargin = bearerRenewalMargin
    }
}
