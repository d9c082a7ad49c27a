import Foundation

/// The checks `tokenkeeper import` makes on one line before it seals anything, for the fuzzing
/// harness (`tokenkeeper-fuzz import`), which has no database, master key or clock.
///
/// It follows `Inventory.prepareLine` step by step (decode with the repeated-field check,
/// project, `expires_at`, the token's value and the details' lengths) and stops where scheduling
/// and sealing begin: those need a store, and take no bytes from the line that these checks have
/// not already accepted. Nothing in the tool calls it.
package enum ImportLineCheck {
    /// What the importer keeps of a line it accepts.
    package struct Accepted {
        package var project: String
        package var token: String
        package var label: String?
        package var waba: String?
        package var expiresAt: UnixTime?
    }

    /// Checks one line (without its newline) with `decoder`, as a worker of `importTokens` does;
    /// a refusal is the sentence the importer would put after `line N: `.
    package static func check(_ line: ArraySlice<UInt8>, decoder: JSONDecoder) -> Result<Accepted, TokenKeeperError> {
        let decoded: ImportLine
        do {
            decoded = try ImportLine.decode(line, decoder: decoder)
        } catch {
            return .failure(TokenKeeperError(.invalidInput, ImportLine.describe(error)))
        }
        guard !decoded.project.isEmpty else { return .failure(TokenKeeperError(.invalidInput, "\"project\" is empty")) }
        var expiresAt: UnixTime?
        if let text = decoded.expiresAt {
            guard let time = RFC3339.parse(text) else {
                return .failure(
                    TokenKeeperError(
                        .invalidInput,
                        "\"expires_at\" is not an RFC 3339 time such as 2026-11-25T10:00:00Z"
                    )
                )
            }
            expiresAt = time
        }
        let new = NewToken(project: decoded.project, label: decoded.label, waba: decoded.waba)
        if let problem = TokenValue.problem(decoded.token) ?? new.problem() {
            return .failure(TokenKeeperError(.invalidInput, problem))
        }
        return .success(
            Accepted(
                project: decoded.project,
                token: decoded.token,
                label: decoded.label,
                waba: decoded.waba,
                expiresAt: expiresAt
            )
        )
    }

    /// Every sentence ``check(_:decoder:)`` can refuse a line with, less the field names it
    /// quotes: a token equal to a word of these is no leak when it shows up in a refusal.
    package static var vocabulary: String {
        [
            ImportLine.describe(ImportLine.UnknownField(name: "")),
            ImportLine.describe(ImportLine.DuplicateField(name: "")),
            "missing is null must be a string not a JSON object not valid JSON is empty",
            "is not an RFC 3339 time such as 2026-11-25T10:00:00Z",
            TokenValue.problem("") ?? "",
            TokenValue.problem(String(repeating: "x", count: TokenValue.maximumLength + 1)) ?? "",
            TokenValue.problem(" ") ?? "",
            TokenValue.problem("short") ?? "",
            TokenValue.problem("token\u{200B}value") ?? "",
            NewToken(project: "p", label: "a\0b").problem() ?? "",
            NewToken(project: "p", label: "a\u{200B}b").problem() ?? "",
            NewToken(project: "p\u{200B}").problem() ?? "",
            NewToken(project: "").problem() ?? "",
            NewToken(project: String(repeating: "x", count: NewToken.maximumProjectBytes + 1)).problem() ?? "",
            NewToken(project: "p", label: String(repeating: "x", count: NewToken.maximumLabelBytes + 1)).problem()
                ?? "",
            NewToken(project: "p", waba: String(repeating: "x", count: NewToken.maximumIDBytes + 1)).problem() ?? "",
        ].joined(separator: "\n")
    }
}
