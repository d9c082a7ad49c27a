/// The calls FakeSinch answers and counts: three Provisioning calls and the OAuth2 token call.
public enum FakeSinchEndpoint: String, Sendable, Codable, CaseIterable {
    /// `POST /v1/projects/{projectId}/whatsapp/longLivedAccessToken`
    case longLivedAccessToken
    /// `POST /v1/projects/{projectId}/whatsapp/wabaDetails`
    case wabaDetails
    /// `PUT /v1/projects/{projectId}/whatsapp/enableTemplateAnalytics`
    case enableTemplateAnalytics
    /// `POST /oauth2/token`
    case oauthToken

    /// True for the Provisioning API calls, false for the OAuth2 token call.
    public var isProvisioning: Bool { self != .oauthToken }

    /// The status a success of this call answers with.
    var successStatus: Int { self == .longLivedAccessToken ? 201 : 200 }
}
