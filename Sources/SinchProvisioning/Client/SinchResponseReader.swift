import Foundation

/// Turns a non-2xx answer of any shape (PAPI error, RFC 7807, HTML, empty, truncated) into a
/// classified ``SinchError`` without trusting a byte of it.
enum SinchResponseReader {
    static let maxMessageLength = 300

    static func error(from response: HTTPResponse, secrets: [String], now: Double) -> SinchError {
        let retryAfter = response.headers["retry-after"].flatMap { RetryAfter.parse($0, now: now) }
        let decoder = JSONDecoder()
        let data = Data(response.body)
        var errorCode: String?
        var message: String
        if let papi = try? decoder.decode(PAPIErrorBody.self, from: data) {
            errorCode = papi.errorCode
            message = papi.message ?? ""
            if let details = papi.additionalInformation?.validationErrors, !details.isEmpty {
                message += " (\(details.joined(separator: "; ")))"
            }
        } else if let problem = try? decoder.decode(ProblemBody.self, from: data),
            problem.title != nil || problem.detail != nil
        {
            message = [problem.title, problem.detail].compactMap { $0 }.joined(separator: ": ")
        } else if response.body.isEmpty {
            message = "empty body"
        } else {
            let type = response.headers["content-type"].map { scrub($0, secrets: secrets) } ?? "no content type"
            message = "unreadable body (\(type), \(response.body.count) bytes)"
        }
        let code = errorCode.map { scrub($0, secrets: secrets, limit: 80) } ?? "http_\(response.status)"
        return SinchError(
            SinchClassification.classify(status: response.status, errorCode: errorCode),
            status: response.status,
            code: code,
            message: scrub(message, secrets: secrets),
            retryAfter: retryAfter
        )
    }

    /// One line of at most `limit` characters, every secret replaced, control characters dropped.
    static func scrub(_ text: String, secrets: [String], limit: Int = maxMessageLength) -> String {
        var result = text
        for secret in secrets where secret.count >= 4 {
            result = result.replacingOccurrences(of: secret, with: "[redacted]")
        }
        // Control, line/paragraph separator and format (bidi) characters could forge or hide lines.
        let hidden: Set<Unicode.GeneralCategory> = [.control, .lineSeparator, .paragraphSeparator, .format]
        result = String(
            result.unicodeScalars.map { hidden.contains($0.properties.generalCategory) ? " " : Character($0) }
        )
        if result.count > limit { result = String(result.prefix(limit)) + "…" }
        return result
    }
}
