/// What `add` and `import` know about a token besides its value.
package struct NewToken: Sendable, Equatable {
    package var project: String
    package var label: String?
    package var waba: String?
    package var businessManager: String?
    /// When the token was issued, if known; its expiry is then `issuedAt + lifetime`.
    package var issuedAt: UnixTime?
    /// When the token expires, if known; wins over `issuedAt`.
    package var expiresAt: UnixTime?

    package init(
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
extension NewToken {
    /// The longest project id, label, WABA id and business manager stored, in UTF-8 bytes: a
    /// record is a row read by every `list`, not a document.
    static let maximumProjectBytes = 128
    static let maximumLabelBytes = 256
    static let maximumIDBytes = 64

    /// Nil when the details can be stored, else what is wrong with them (never the token).
    /// `projectRequired`: false for `--replace`, which keeps the record's project.
    func problem(projectRequired: Bool = true) -> String? {
        if projectRequired, project.isEmpty { return "the project is empty" }
        if project.utf8.count > Self.maximumProjectBytes {
            return "the project id is longer than \(Self.maximumProjectBytes) bytes"
        }
        for (name, value, limit) in [
            ("label", label, Self.maximumLabelBytes), ("waba", waba, Self.maximumIDBytes),
            ("business manager", businessManager, Self.maximumIDBytes),
        ] {
            if let value, value.utf8.count > limit { return "the \(name) is longer than \(limit) bytes" }
        }
        // Identifiers, printed in tables and sent in URLs: nothing in them may drive a terminal.
        if let problem = TerminalText.identifierProblem(project, field: "project") { return problem }
        if let waba, let problem = TerminalText.identifierProblem(waba, field: "waba") { return problem }
        if let businessManager, let problem = TerminalText.identifierProblem(businessManager, field: "business manager")
        {
            return problem
        }
        if let label { return Self.labelProblem(label) }
        return nil
    }

    /// A label is free text shown escaped, but a NUL cuts it short in SQLite and fails the
    /// write in PostgreSQL, and an invisible format character makes two labels that look the
    /// same differ (the joiners that scripts and emoji need excepted).
    static func labelProblem(_ label: String) -> String? {
        if let nul = InputText.first(in: label, where: { $0 == "\0" }) {
            return "the label contains a NUL character (\(InputText.describe(nul)))"
        }
        let format = InputText.first(in: label) { InputText.isFormat($0) && !InputText.joiners.contains($0) }
        if let format {
            return "the label contains an invisible format character (\(InputText.describe(format)))"
        }
        return nil
    }
}

enum TokenValue {
    static let maximumLength = 4_096
    /// The shortest value taken for a token or a code: Meta's are a hundred characters and more,
    /// so anything under this is a slip (a stray character, a truncated paste).
    static let minimumLength = 8

    /// Returns nil when the value is acceptable, else what is wrong with it: never the value,
    /// only the position and code point of a character that may not be in it.
    static func problem(_ token: String, noun: String = "token") -> String? {
        if token.isEmpty { return "the \(noun) is empty" }
        if token.utf8.count > maximumLength { return "the \(noun) is longer than \(maximumLength) bytes" }
        let refused = InputText.first(in: token) {
            $0.value <= 0x20 || (0x7F...0x9F).contains($0.value) || $0.properties.isWhitespace
        }
        if let refused {
            return "the \(noun) contains whitespace or control characters (\(InputText.describe(refused)))"
        }
        if let format = InputText.first(in: token, where: InputText.isFormat) {
            return "the \(noun) contains an invisible format character (\(InputText.describe(format)))"
        }
        if token.unicodeScalars.count < minimumLength {
            return "the \(noun) is shorter than \(minimumLength) characters"
        }
        return nil
    }
}
