/// A way for FakeSinch to misbehave on purpose, as Sinch, its gateway or a proxy might.
///
/// As JSON (the `/_fake/faults` admin call) a fault is an object with one key naming the kind,
/// whose value holds the kind's fields; kinds without fields may also be a bare string:
///
/// ```json
/// {"error": {"status": 500, "code": "internal_error"}}
/// {"unauthorized": {}}                 or "unauthorized"
/// {"tooManyRequests": {"retryAfter": "2"}}   ("retryAfter" optional)
/// {"latency": {"seconds": 0.25}}
/// {"hang": {}}                         or "hang"
/// {"reset": {}}                        or "reset"
/// {"emptyBody": {"status": 502}}
/// {"truncatedBody": {}}                or "truncatedBody"
/// {"html": {"status": 502}}
/// {"oversizedBody": {"bytes": 2000000}}
/// {"successWithoutToken": {}}          or "successWithoutToken"
/// {"json": {"status": 200, "body": "{\"wabas\": []}"}}
/// ```
public enum FakeSinchFault: Sendable, Equatable {
    /// Answers `status` with a PAPI error body carrying `code` (`application/json`).
    case error(status: Int, code: String)
    /// Answers 401 with an RFC 7807 body, as Sinch's gateway does (`application/problem+json`).
    case unauthorized
    /// Answers 429 with an RFC 7807 body; `Retry-After` is sent verbatim, and only when non-nil.
    case tooManyRequests(retryAfter: String?)
    /// Waits this long, then answers normally.
    case latency(Duration)
    /// Never answers, until ``FakeSinchConfiguration/hangLimit`` passes or the fake stops; then closes.
    case hang
    /// Aborts the TCP connection with a reset, without answering.
    case reset
    /// Answers `status` with an empty body (`Content-Length: 0`).
    case emptyBody(status: Int)
    /// Answers the call's success status with valid headers and a JSON body cut in the middle.
    case truncatedBody
    /// Answers `status` with an HTML page, as a proxy in front of the API would.
    case html(status: Int)
    /// Answers the call's success status with a valid JSON body of exactly `bytes` bytes.
    case oversizedBody(bytes: Int)
    /// Answers the call's success status with `{}`.
    case successWithoutToken
    /// Answers `status` with exactly `body` (`application/json`): a hostile but well-formed
    /// document, such as names holding terminal escapes.
    case json(status: Int, body: String)
}

extension FakeSinchFault: Codable {
    private enum Kind: String, CodingKey {
        case error, unauthorized, tooManyRequests, latency, hang, reset, emptyBody, truncatedBody, html
        case oversizedBody, successWithoutToken, json
    }

    private enum Field: String, CodingKey {
        case status, code, retryAfter, seconds, bytes, body
    }

    public init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer(), let name = try? single.decode(String.self) {
            guard let kind = Kind(rawValue: name), let fault = Self.withoutFields(kind) else {
                throw DecodingError.dataCorruptedError(
                    in: single,
                    debugDescription: "'\(name)' is not a fault kind without fields"
                )
            }
            self = fault
            return
        }
        let container = try decoder.container(keyedBy: Kind.self)
        guard container.allKeys.count == 1, let kind = container.allKeys.first else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "a fault names exactly one kind")
            )
        }
        let fields = try container.nestedContainer(keyedBy: Field.self, forKey: kind)
        switch kind {
        case .error:
            self = .error(
                status: try fields.decode(Int.self, forKey: .status),
                code: try fields.decode(String.self, forKey: .code)
            )
        case .tooManyRequests:
            self = .tooManyRequests(retryAfter: try fields.decodeIfPresent(String.self, forKey: .retryAfter))
        case .latency:
            let seconds = try fields.decode(Double.self, forKey: .seconds)
            guard seconds.isFinite, seconds >= 0 else {
                throw DecodingError.dataCorruptedError(
                    forKey: .seconds,
                    in: fields,
                    debugDescription: "latency must be a finite, non-negative number of seconds"
                )
            }
            self = .latency(.milliseconds(Int64((seconds * 1000).rounded())))
        case .emptyBody:
            self = .emptyBody(status: try fields.decode(Int.self, forKey: .status))
        case .html:
            self = .html(status: try fields.decode(Int.self, forKey: .status))
        case .oversizedBody:
            self = .oversizedBody(bytes: try fields.decode(Int.self, forKey: .bytes))
        case .json:
            self = .json(
                status: try fields.decode(Int.self, forKey: .status),
                body: try fields.decode(String.self, forKey: .body)
            )
        case .unauthorized, .hang, .reset, .truncatedBody, .successWithoutToken:
            self = Self.withoutFields(kind)!
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Kind.self)
        switch self {
        case .error(let status, let code):
            var fields = container.nestedContainer(keyedBy: Field.self, forKey: .error)
            try fields.encode(status, forKey: .status)
            try fields.encode(code, forKey: .code)
        case .unauthorized:
            _ = container.nestedContainer(keyedBy: Field.self, forKey: .unauthorized)
        case .tooManyRequests(let retryAfter):
            var fields = container.nestedContainer(keyedBy: Field.self, forKey: .tooManyRequests)
            try fields.encodeIfPresent(retryAfter, forKey: .retryAfter)
        case .latency(let duration):
            var fields = container.nestedContainer(keyedBy: Field.self, forKey: .latency)
            try fields.encode(duration.fakeSinchSeconds, forKey: .seconds)
        case .hang:
            _ = container.nestedContainer(keyedBy: Field.self, forKey: .hang)
        case .reset:
            _ = container.nestedContainer(keyedBy: Field.self, forKey: .reset)
        case .emptyBody(let status):
            var fields = container.nestedContainer(keyedBy: Field.self, forKey: .emptyBody)
            try fields.encode(status, forKey: .status)
        case .truncatedBody:
            _ = container.nestedContainer(keyedBy: Field.self, forKey: .truncatedBody)
        case .html(let status):
            var fields = container.nestedContainer(keyedBy: Field.self, forKey: .html)
            try fields.encode(status, forKey: .status)
        case .oversizedBody(let bytes):
            var fields = container.nestedContainer(keyedBy: Field.self, forKey: .oversizedBody)
            try fields.encode(bytes, forKey: .bytes)
        case .successWithoutToken:
            _ = container.nestedContainer(keyedBy: Field.self, forKey: .successWithoutToken)
        case .json(let status, let body):
            var fields = container.nestedContainer(keyedBy: Field.self, forKey: .json)
            try fields.encode(status, forKey: .status)
            try fields.encode(body, forKey: .body)
        }
    }

    private static func withoutFields(_ kind: Kind) -> FakeSinchFault? {
        switch kind {
        case .unauthorized: .unauthorized
        case .tooManyRequests: .tooManyRequests(retryAfter: nil)
        case .hang: .hang
        case .reset: .reset
        case .truncatedBody: .truncatedBody
        case .successWithoutToken: .successWithoutToken
        case .error, .latency, .emptyBody, .html, .oversizedBody, .json: nil
        }
    }
}
