/// The JSON documents FakeSinch answers with, in Sinch's field names. They go through
/// `WireResponse.json`, which encodes them.

/// Sinch's Provisioning API error document.
struct PAPIError: Encodable {
    struct Information: Encodable {
        var validationErrors: [String]
    }

    var errorCode: String
    var message: String
    var resolution: String
    var additionalInformation: Information?
}

/// An RFC 7807 problem document.
struct Problem: Encodable {
    var type: String
    var title: String
    var detail: String
}

/// `{"error": ...}`, as the OAuth endpoint and the admin API answer a refused request.
struct ErrorDocument: Encodable {
    var error: String
}

/// The OAuth endpoint's answer.
struct OAuthTokenDocument: Encodable {
    var accessToken: String
    var tokenType = "Bearer"
    var expiresIn: Int
    var scope = ""

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token"
        case tokenType = "token_type"
        case expiresIn = "expires_in"
        case scope
    }
}

/// `POST /whatsapp/longLivedAccessToken`'s 201.
struct LongLivedAccessTokenDocument: Encodable {
    var longLivedAccessToken: String
}

/// `POST /whatsapp/wabaDetails`'s answer.
struct WABADetailsDocument: Encodable {
    struct WABA: Encodable {
        var id: String
        var name: String
        var numbers: [Number]
    }

    struct Number: Encodable {
        var id: String
        var displayPhoneNumber: String
        var provisioned: Bool
    }

    var wabas: [WABA]
}
