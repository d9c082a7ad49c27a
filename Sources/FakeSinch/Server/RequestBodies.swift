import Foundation
import Hummingbird

/// The JSON body of `longLivedAccessToken` and `wabaDetails`.
struct ProvisioningBody: Decodable {
    var facebookCode: String?
    var facebookToken: String?
    var businessManager: String?

    static let businessManagers: Set<String> = ["SINCH_AMERICA", "SINCH_BR", "SINCH_MX", "SINCH_SEP", "SINCH_UK"]

    private static let decoder = JSONDecoder()

    /// The body, or nil when it is not a JSON object with string fields.
    init?(parsing buffer: ByteBuffer) {
        guard let body = try? Self.decoder.decode(Self.self, from: Data(buffer.readableBytesView)) else { return nil }
        self = body
        if facebookCode?.isEmpty == true { facebookCode = nil }
        if facebookToken?.isEmpty == true { facebookToken = nil }
    }
}

/// The `application/x-www-form-urlencoded` body of `/oauth2/token`.
struct OAuthForm {
    var fields: [String: String] = [:]

    init(parsing buffer: ByteBuffer) {
        let text = String(buffer: buffer)
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]) else { continue }
            fields[name] = parts.count > 1 ? Self.decode(parts[1]) ?? "" : ""
        }
    }

    private static func decode(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}
