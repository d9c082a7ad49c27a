/// What a failed answer means for the token it was about (Sources/TokenKeeper/TokenKeeper.docc/SinchAPI.md, "The classification table").
public enum SinchErrorClass: String, Sendable, CaseIterable {
    /// Try again later with backoff: 5xx, timeouts, connection errors, unparseable success bodies.
    case transient
    /// Sinch or Meta asks us to slow down (429, `facebook_Request_limit_reached`): pause the project.
    case throttled
    /// The token is dead (`invalid_facebook_token`, `log_in_facebook_required`): a person must act.
    case permanent
    /// Sinch refused our key (401): not the token's fault; pause the project and say so loudly.
    case credentials
    /// Sinch refused the request itself (other 4xx, a redirect): a configuration error, not a
    /// dead token.
    case badRequest = "bad_request"
    /// The caller cancelled the call (a daemon shutting down): it says nothing about the token.
    case cancelled
}

/// A Sinch call that did not succeed, classified. Holds no token, code or key value.
public struct SinchError: Error, Sendable, CustomStringConvertible {
    public var errorClass: SinchErrorClass
    /// The HTTP status, or nil when no answer arrived.
    public var status: Int?
    /// Sinch's `errorCode`, or one of ours: `timeout`, `connection_error`, `tls_error`,
    /// `response_too_large`, `malformed_response`, `cancelled`, `http_<status>`.
    public var code: String
    /// A short, single-line explanation, scrubbed of every secret the request carried.
    public var message: String
    /// How long Sinch asked us to wait (`Retry-After`), when it said.
    public var retryAfter: Duration?

    public init(
        _ errorClass: SinchErrorClass,
        status: Int?,
        code: String,
        message: String,
        retryAfter: Duration? = nil
    ) {
        self.errorClass = errorClass
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String {
        var text = "\(errorClass.rawValue) \(code)"
        if let status { text += " (HTTP \(status))" }
        if !message.isEmpty { text += ": \(message)" }
        if let retryAfter { text += "; retry after \(retryAfter.components.seconds)s" }
        return text
    }
}

/// The classification table of the Sinch API notes (SinchAPI.md in the TokenKeeper catalog) as a pure function.
extension SinchError {
    /// Whether the request got no answer in time.
    public var isTimeout: Bool { code == SinchClassification.timeoutCode }
}

public enum SinchClassification {
    /// Classifies a non-2xx answer from `status` and the body's `errorCode` (if any).
    public static func classify(status: Int, errorCode: String?) -> SinchErrorClass {
        switch (status, errorCode) {
        case (_, "invalid_facebook_token"), (_, "log_in_facebook_required"):
            return .permanent
        case (_, "facebook_Request_limit_reached"), (429, _):
            return .throttled
        case (401, _), (403, _):
            // 403: the key is valid but not allowed on this project; still the key's problem.
            return .credentials
        case (408, _):
            return .transient
        case (424, _):
            // `template_insights_not_yet_available`: Meta needs more time.
            return .transient
        case (400..<500, _), (300..<400, _):
            // Redirects are not followed: a 3xx means a wrong URL, which retrying will not fix.
            return .badRequest
        default:
            // Other 5xx, and anything unexpected: try again later.
            return .transient
        }
    }

    /// The code of a request that got no answer in time.
    public static let timeoutCode = "timeout"

    /// Classifies a request that got no HTTP answer.
    public static func classify(_ error: TransportError) -> SinchError {
        let code: String
        switch error.kind {
        case .timeout: code = timeoutCode
        case .connection: code = "connection_error"
        case .tls: code = "tls_error"
        case .responseTooLarge: code = "response_too_large"
        case .cancelled: code = "cancelled"
        case .other: code = "transport_error"
        }
        return SinchError(
            error.kind == .cancelled ? .cancelled : .transient,
            status: nil,
            code: code,
            message: error.detail
        )
    }
}
