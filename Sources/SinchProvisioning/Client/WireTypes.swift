/// Bodies of the Provisioning API, as the Sinch API notes give them (Sources/TokenKeeper/TokenKeeper.docc/SinchAPI.md, "Endpoints").

struct LongLivedAccessTokenRequest: Encodable {
    var facebookCode: String?
    var facebookToken: String?
    var businessManager: String?
}

struct LongLivedAccessTokenResponse: Decodable {
    var longLivedAccessToken: String?
}

struct WABADetailsRequest: Encodable {
    var facebookToken: String
}

struct WABADetailsResponse: Decodable {
    var wabas: [WABA]
}

/// A WhatsApp Business Account the token can reach.
public struct WABA: Sendable, Codable, Equatable {
    public var id: String
    public var name: String?
    public var numbers: [PhoneNumber]

    public init(id: String, name: String? = nil, numbers: [PhoneNumber] = []) {
        self.id = id
        self.name = name
        self.numbers = numbers
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        numbers = try container.decodeIfPresent([PhoneNumber].self, forKey: .numbers) ?? []
    }
}

extension WABA {
    /// This WABA with `secrets`, and runs that look like a token, redacted from its strings.
    func redacting(secrets: [String]) -> WABA {
        func clean(_ text: String) -> String { SinchResponseReader.redacting(text, secrets: secrets) }
        return WABA(
            id: clean(id),
            name: name.map(clean),
            numbers: numbers.map {
                PhoneNumber(
                    id: clean($0.id),
                    displayPhoneNumber: $0.displayPhoneNumber.map(clean),
                    provisioned: $0.provisioned
                )
            }
        )
    }
}

/// A phone number of a WABA.
public struct PhoneNumber: Sendable, Codable, Equatable {
    public var id: String
    public var displayPhoneNumber: String?
    public var provisioned: Bool?

    public init(id: String, displayPhoneNumber: String? = nil, provisioned: Bool? = nil) {
        self.id = id
        self.displayPhoneNumber = displayPhoneNumber
        self.provisioned = provisioned
    }
}

/// The Provisioning API's own error body ("PAPI error").
struct PAPIErrorBody: Decodable {
    struct AdditionalInformation: Decodable {
        var validationErrors: [String]?
    }

    var errorCode: String
    var message: String?
    var resolution: String?
    var additionalInformation: AdditionalInformation?
}

/// RFC 7807 problem details, as the gateway in front of the API answers.
struct ProblemBody: Decodable {
    var type: String?
    var title: String?
    var detail: String?
}

/// The OAuth2 token endpoint's answer.
struct OAuthTokenResponse: Decodable {
    var accessToken: String
    var tokenType: String?
    var expiresIn: Double?

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token"
        case tokenType = "token_type"
        case expiresIn = "expires_in"
    }
}
