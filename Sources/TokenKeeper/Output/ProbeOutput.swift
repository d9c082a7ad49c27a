/// What `probe` prints: one line per token, then the counts; or one JSON object.
package struct ProbeReport: Sendable, Encodable {
    package var results: [(id: String, result: RefreshEngine.ProbeResult)]

    package init(_ results: [(id: String, result: RefreshEngine.ProbeResult)]) {
        self.results = results
    }

    package var refused: Int { results.filter { if case .refused = $0.result { true } else { false } }.count }
    package var failed: Int { results.filter { if case .failed = $0.result { true } else { false } }.count }
    package var accepted: Int { results.filter { $0.result == .accepted }.count }
    package var skipped: Int { results.filter { $0.result == .skipped }.count }

    /// One line per token, every id escaped, then the counts.
    package var text: String {
        var lines = results.map { id, result in
            let name = TerminalText.escape(id)
            return switch result {
            case .accepted: "\(name)  accepted"
            case .refused(let code):
                "\(name)  refused (\(TerminalText.escape(code))): now needs_reauth, a new Embedded Signup is needed"
            case .failed(let errorClass, let code):
                "\(name)  no answer (\(TerminalText.escape(errorClass)) \(TerminalText.escape(code))): unchanged"
            case .skipped: "\(name)  skipped (not live, or another process holds it)"
            }
        }
        lines.append(
            "probed \(results.count - skipped): \(accepted) accepted, \(refused) refused, \(failed) without an answer, \(skipped) skipped"
        )
        return lines.joined(separator: "\n")
    }

    enum CodingKeys: String, CodingKey { case accepted, refused, failed, skipped, tokens }

    struct Token: Encodable {
        let id: String
        let result: RefreshEngine.ProbeResult

        enum CodingKeys: String, CodingKey {
            case id, result
            case errorClass = "error_class", errorCode = "error_code"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            var errorClass: String?
            var errorCode: String?
            let name: String
            switch result {
            case .accepted: name = "accepted"
            case .refused(let code): (name, errorClass, errorCode) = ("refused", "permanent", code)
            case .failed(let failedClass, let code): (name, errorClass, errorCode) = ("failed", failedClass, code)
            case .skipped: name = "skipped"
            }
            try container.encode(name, forKey: .result)
            try container.encode(errorClass, forKey: .errorClass)
            try container.encode(errorCode, forKey: .errorCode)
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(accepted, forKey: .accepted)
        try container.encode(refused, forKey: .refused)
        try container.encode(failed, forKey: .failed)
        try container.encode(skipped, forKey: .skipped)
        try container.encode(results.map { Token(id: $0.id, result: $0.result) }, forKey: .tokens)
    }
}
