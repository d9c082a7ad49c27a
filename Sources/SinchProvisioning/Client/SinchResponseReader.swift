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

    /// One line of at most `limit` characters, every secret replaced, every token-like run
    /// removed, control characters dropped.
    static func scrub(_ text: String, secrets: [String], limit: Int = maxMessageLength) -> String {
        var result = redacting(text, secrets: secrets)
        // Control, line/paragraph separator and format (bidi) characters could forge or hide lines.
        let hidden: Set<Unicode.GeneralCategory> = [.control, .lineSeparator, .paragraphSeparator, .format]
        result = String(
            result.unicodeScalars.map { hidden.contains($0.properties.generalCategory) ? " " : Character($0) }
        )
        if result.count > limit { result = String(result.prefix(limit)) + "…" }
        return result
    }

    /// `text` with every secret, and every run that looks like a token, replaced by `[redacted]`;
    /// nothing else changed (what shows the text escapes it for its reader).
    static func redacting(_ text: String, secrets: [String]) -> String {
        var result = text
        for secret in secrets where secret.count >= 4 {
            result = result.replacingOccurrences(of: secret, with: "[redacted]")
        }
        return redactingTokenLikeRuns(result)
    }

    /// The shortest run of token characters that is taken for (part of) a token.
    static let tokenLikeRun = 20

    /// `text` with every run of ``tokenLikeRun`` or more base64 or base64url characters that holds
    /// both a letter and a digit replaced by `[redacted]`: an answer that echoes a token in part,
    /// or encoded, must not carry it into a log or `last_error`. Words, error codes
    /// (`facebook_Request_limit_reached`) and numbers stay.
    static func redactingTokenLikeRuns(_ text: String) -> String {
        let bytes = Array(text.utf8)
        func isTokenByte(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="),
                UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default: false
            }
        }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            guard isTokenByte(bytes[index]) else {
                output.append(bytes[index])
                index += 1
                continue
            }
            var end = index
            while end < bytes.count, isTokenByte(bytes[end]) { end += 1 }
            let run = bytes[index..<end]
            let hasDigit = run.contains { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
            let hasLetter = run.contains {
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
                    || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0)
            }
            if run.count >= tokenLikeRun, hasDigit, hasLetter {
                output += Array("[redacted]".utf8)
            } else {
                output += run
            }
            index = end
        }
        return String(decoding: output, as: UTF8.self)
    }
}
