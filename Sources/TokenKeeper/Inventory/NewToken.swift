/// What `add` and `import` know about a token besides its value.
public struct NewToken: Sendable, Equatable {
    public var project: String
    public var label: String?
    public var waba: String?
    public var businessManager: String?
    /// When the token was issued, if known; its expiry is then `issuedAt + lifetime`.
    public var issuedAt: UnixTime?
    /// When the token expires, if known; wins over `issuedAt`.
    public var expiresAt: UnixTime?

    public init(
        project: String,
        label: String? = nil,
        waba: String? = nil,
        businessManager: String? = nil,
        issuedAt: UnixTime? = nil,
        expiresAt: UnixTime? = nil
    ) {
        self.project = project
        self.label = label
        self.waba = waba
        self.businessManager = businessManager
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
    }
}

/// Checks a token value read from stdin or a file; errors never quote the value.
enum TokenValue {
    static let maximumLength = 4_096

    /// Returns nil when the value is acceptable, else what is wrong with it.
    static func problem(_ token: String, noun: String = "token") -> String? {
        if token.isEmpty { return "the \(noun) is empty" }
        if token.utf8.count > maximumLength { return "the \(noun) is longer than \(maximumLength) bytes" }
        if token.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7f }) {
            return "the \(noun) contains whitespace or control characters"
        }
        return nil
    }
}
