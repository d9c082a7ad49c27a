import Dispatch
import Foundation
import Logging
import SinchProvisioning
import Synchronization
import WallTime

/// `sinch-answer`: the input is a call and the answers Sinch gives it, played to the real
/// ``SinchClient`` through a transport that never opens a socket.
///
/// ```
/// refresh oauth2        the call (refresh, exchange, waba, analytics) and the authentication
/// HTTP 429              an answer: status line, header lines, an empty line, the body
/// Retry-After: 120
///
/// {"errorCode":"facebook_Request_limit_reached"}
/// %%                    between answers: the client's requests get them in turn, the last repeats
/// ```
///
/// Promises: the client makes at most four requests for a call; an error is never cancelled;
/// its message and code are one line with no token-like run left in them; neither the error nor
/// a log line carries the key secret, the Basic credential, or what the request it answers sent
/// (the token or code, a bearer of four characters or more), wherever the answer echoed it.
enum SinchAnswerHarness {
    static let token = "EAAGfuzztoken0123456789abcdef"
    static let code = "AQfuzzcode0123456789abcdef"
    static let credentials = SinchCredentials(
        keyID: "fuzz-key-id",
        keySecret: "fuzz-key-secret-0123456789",
        source: "the fuzzing harness"
    )
    static let basic = Data("fuzz-key-id:fuzz-key-secret-0123456789".utf8).base64EncodedString()

    enum Call: String {
        case refresh, exchange, waba, analytics
    }

    /// Plays one input to a new client, so that no bearer or state carries over between inputs.
    static func run(_ input: [UInt8]) {
        guard let (call, authentication, answers) = parse(input) else { return }
        let transport = ScriptedTransport(answers: answers)
        let lines = RecordingLogHandler.Lines()
        let client = SinchClient(
            configuration: SinchConfiguration(
                provisioningURL: "https://provisioning.sinch.invalid",
                authURL: "https://auth.sinch.invalid/oauth2/token",
                credentials: credentials,
                authentication: authentication
            ),
            transport: transport,
            logger: Logger(label: "fuzz") { _ in RecordingLogHandler(lines: lines) },
            clock: FixedClock()
        )
        let failure = blocking { () async -> SinchError? in
            do throws(SinchError) {
                switch call {
                case .refresh: _ = try await client.refresh(token: token, project: "p1")
                case .exchange: _ = try await client.exchangeCode(code, project: "p1")
                case .waba: _ = try await client.wabaDetails(token: token, project: "p1")
                case .analytics: try await client.enableTemplateAnalytics(project: "p1")
                }
                return nil
            } catch {
                return error
            }
        }
        let sent = transport.sent
        require(sent.count <= 4, "one \(call) call made \(sent.count) requests")
        // The key is scrubbed from every answer; the rest from the answer to the request that
        // carried it, the last one: an answer cannot echo what its request did not send.
        var secrets = [credentials.keySecret, basic, "Basic " + basic]
        if let last = sent.last {
            secrets += [token, code].filter { last.body.contains($0) }
            if last.authorization.hasPrefix("Bearer ") {
                let bearer = String(last.authorization.dropFirst("Bearer ".count))
                // Shorter values are not scrubbed, by design; one with a bracket could be spelt
                // across a "[redacted]" and its neighbour without having been echoed.
                if bearer.count >= 4, !bearer.contains("["), !bearer.contains("]") {
                    secrets += [bearer, last.authorization]
                }
            }
        }
        var written = lines.text
        if let failure {
            require(failure.errorClass != .cancelled, "a call that nobody cancelled ended cancelled: \(failure)")
            require(isOneLine(failure.message) && isOneLine(failure.code), "not one line: \(failure)")
            for text in [failure.message, failure.code] {
                require(tokenLikeRun(in: text) == nil, "\(tokenLikeRun(in: text) ?? "") is left in: \(failure)")
            }
            if let status = failure.status {
                require(answers.contains { $0.status == status }, "status \(status) was not an answer's")
            }
            if let wait = failure.retryAfter {
                require(wait >= .zero && wait <= .seconds(7 * 86_400), "retry after \(wait)")
            }
            written += "\n" + failure.description
        } else {
            require(answers.contains { (200..<300).contains($0.status) }, "a call succeeded without a 2xx answer")
        }
        for secret in secrets {
            require(!contains(Array(written.utf8), Array(secret.utf8)), "\(secret) leaked into: \(written)")
        }
    }

    /// Whether `text` holds nothing that could end a log line or hide part of it, as
    /// `SinchResponseReader.scrub` promises.
    static func isOneLine(_ text: String) -> Bool {
        let hidden: Set<Unicode.GeneralCategory> = [.control, .lineSeparator, .paragraphSeparator, .format]
        return !text.unicodeScalars.contains { hidden.contains($0.properties.generalCategory) }
    }

    /// The first run of 20 or more base64 or base64url characters with a letter and a digit, which
    /// `SinchResponseReader.scrub` takes for (part of) a token and removes.
    static func tokenLikeRun(in text: String) -> String? {
        let tokenCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=_-".unicodeScalars)
        var run = ""
        for scalar in text.unicodeScalars.map(Optional.some) + [nil] {
            if let scalar, tokenCharacters.contains(scalar) {
                run.unicodeScalars.append(scalar)
                continue
            }
            if run.count >= 20, run.contains(where: \.isNumber), run.contains(where: \.isLetter) { return run }
            run = ""
        }
        return nil
    }

    /// Whether `bytes` holds `needle` anywhere, byte for byte: what a log reader would find.
    static func contains(_ bytes: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, bytes.count >= needle.count else { return false }
        return (0...(bytes.count - needle.count)).contains { start in
            bytes[start..<(start + needle.count)].elementsEqual(needle)
        }
    }

    /// The call, the authentication and the answers of an input; nil when its first line names
    /// neither or an answer has no status.
    static func parse(_ input: [UInt8]) -> (Call, SinchAuthentication, [HTTPResponse])? {
        let newline = UInt8(ascii: "\n")
        guard let end = input.firstIndex(of: newline) else { return nil }
        let words = String(decoding: input[..<end], as: UTF8.self).split(separator: " ")
        guard words.count == 2, let call = Call(rawValue: String(words[0])),
            let authentication = SinchAuthentication(rawValue: String(words[1]))
        else { return nil }
        var answers: [HTTPResponse] = []
        for text in split(input[(end + 1)...], separator: Array("\n%%\n".utf8)).prefix(4) {
            guard let answer = answer(text) else { return nil }
            answers.append(answer)
        }
        return answers.isEmpty ? nil : (call, authentication, answers)
    }

    /// One answer: `HTTP STATUS`, header lines, an empty line, the body (the rest, as is).
    static func answer(_ text: ArraySlice<UInt8>) -> HTTPResponse? {
        let newline = UInt8(ascii: "\n")
        let statusEnd = text.firstIndex(of: newline) ?? text.endIndex
        let statusLine = String(decoding: text[..<statusEnd], as: UTF8.self)
        // libcurl reads three digits.
        guard statusLine.hasPrefix("HTTP "), let status = Int(statusLine.dropFirst(5)), (0...999).contains(status)
        else { return nil }
        var response = HTTPResponse(status: status)
        var start = statusEnd
        while start < text.endIndex {
            start += 1
            let end = text[start...].firstIndex(of: newline) ?? text.endIndex
            // Each header line with its line end, as libcurl hands it over.
            let line = text[start..<min(end + 1, text.endIndex)]
            start = end
            if line.isEmpty || line == [newline] || line == [UInt8(ascii: "\r"), newline] {
                response.body = Array(text[min(end + 1, text.endIndex)...])
                break
            }
            header(line, into: &response.headers)
        }
        return response
    }

    /// `CurlTransfer.header(_:)`: a line that is not UTF-8 or has no colon is dropped, names are
    /// lower-cased, values trimmed, and a repeated header keeps its last value.
    static func header(_ bytes: ArraySlice<UInt8>, into headers: inout [String: String]) {
        guard let line = String(validating: bytes, as: UTF8.self) else { return }
        if line.hasPrefix("HTTP/") {
            headers.removeAll()
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let value = line[line.index(after: colon)...].unicodeScalars
        let kept = value.drop { $0.properties.isWhitespace }.reversed().drop { $0.properties.isWhitespace }.reversed()
        headers[line[..<colon].lowercased()] = String(String.UnicodeScalarView(kept))
    }

    /// The parts of `bytes` between occurrences of `separator`; bodies may hold any byte.
    static func split(_ bytes: ArraySlice<UInt8>, separator: [UInt8]) -> [ArraySlice<UInt8>] {
        var parts: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        var index = bytes.startIndex
        while index + separator.count <= bytes.endIndex {
            if bytes[index..<(index + separator.count)].elementsEqual(separator) {
                parts.append(bytes[start..<index])
                index += separator.count
                start = index
            } else {
                index += 1
            }
        }
        parts.append(bytes[start...])
        return parts
    }

    /// Runs `operation` on the concurrency runtime and waits for it: libFuzzer calls the harness
    /// on its own thread, outside any task.
    static func blocking<Value: Sendable>(_ operation: @escaping @Sendable () async -> Value) -> Value {
        let handoff = Handoff<Value>()
        let done = DispatchSemaphore(value: 0)
        Task {
            let value = await operation()
            handoff.value.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        guard let value = handoff.value.withLock({ $0 }) else { fatalError("the task ended without a value") }
        return value
    }

    /// Where the task leaves its value for the waiting thread.
    final class Handoff<Value: Sendable>: Sendable {
        let value = Mutex<Value?>(nil)
    }
}

/// A wall clock stopped at one instant, so the same input always gives the same answer.
struct FixedClock: WallClock {
    var secondsSince1970: Double { 1_800_000_000 }
}
