/// Every long-lived token and signup code the fake has issued, grouped in lineages.
///
/// A lineage is one person's consent: a code and every token exchanged or refreshed from it.
/// Revoking a lineage is what a password change or a removed app does to all of them at once.
struct TokenRegistry {
    struct Token {
        let lineage: String
        let expiresAt: Double
        var revoked = false
    }

    struct Code {
        let lineage: String
        var used = false
    }

    /// What a `longLivedAccessToken` call gets.
    enum Exchange: Equatable {
        case issued(token: String, lineage: String)
        case invalidCode
        case invalidToken
    }

    private var tokens: [String: Token] = [:]
    private var codes: [String: Code] = [:]
    private var lineages: Set<String> = []
    private var revokedLineages: Set<String> = []

    mutating func issueCode(lineage: String?, random: inout FakeRandom) -> (code: String, lineage: String) {
        let lineage = lineage ?? newLineage(random: &random)
        lineages.insert(lineage)
        var code = random.alphanumeric(40, prefix: "AQ")
        while codes[code] != nil { code = random.alphanumeric(40, prefix: "AQ") }
        codes[code] = Code(lineage: lineage)
        return (code, lineage)
    }

    mutating func issueToken(
        lineage: String?,
        expiresAt: Double,
        random: inout FakeRandom
    ) -> (
        token: String, lineage: String
    ) {
        let lineage = lineage ?? newLineage(random: &random)
        lineages.insert(lineage)
        return (mint(lineage: lineage, expiresAt: expiresAt, random: &random), lineage)
    }

    /// Exchanges a single-use signup code for a token expiring at `expiresAt`.
    mutating func exchange(code: String, expiresAt: Double, random: inout FakeRandom) -> Exchange {
        guard var record = codes[code], !record.used, !revokedLineages.contains(record.lineage) else {
            return .invalidCode
        }
        record.used = true
        codes[code] = record
        return .issued(
            token: mint(lineage: record.lineage, expiresAt: expiresAt, random: &random),
            lineage: record.lineage
        )
    }

    /// Refreshes a valid token: a new token of the same lineage; the old one lives on until it expires.
    mutating func refresh(token: String, now: Double, expiresAt: Double, random: inout FakeRandom) -> Exchange {
        guard let record = validToken(token, now: now) else { return .invalidToken }
        return .issued(
            token: mint(lineage: record.lineage, expiresAt: expiresAt, random: &random),
            lineage: record.lineage
        )
    }

    func validToken(_ token: String, now: Double) -> Token? {
        guard let record = tokens[token], !record.revoked, now < record.expiresAt,
            !revokedLineages.contains(record.lineage)
        else { return nil }
        return record
    }

    func lineage(ofToken token: String) -> String? { tokens[token]?.lineage }

    func lineage(ofCode code: String) -> String? { codes[code]?.lineage }

    func expiry(of token: String) -> Double? { tokens[token]?.expiresAt }

    mutating func revoke(token: String) {
        tokens[token]?.revoked = true
    }

    mutating func revoke(lineage: String) {
        lineages.insert(lineage)
        revokedLineages.insert(lineage)
    }

    private mutating func newLineage(random: inout FakeRandom) -> String {
        var lineage = random.hex(8, prefix: "ln_")
        while lineages.contains(lineage) { lineage = random.hex(8, prefix: "ln_") }
        return lineage
    }

    private mutating func mint(lineage: String, expiresAt: Double, random: inout FakeRandom) -> String {
        var token = random.alphanumeric(60, prefix: "EAAG")
        while tokens[token] != nil { token = random.alphanumeric(60, prefix: "EAAG") }
        tokens[token] = Token(lineage: lineage, expiresAt: expiresAt)
        return token
    }
}
