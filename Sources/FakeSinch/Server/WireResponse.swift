import Foundation
import HTTPTypes
import Hummingbird

/// The bodies FakeSinch sends, in the shapes Sinch, its gateway and a proxy use.
enum WireResponse {
    /// `body` with `status`; a status outside 200...599 becomes 500, since anything else would
    /// break the HTTP exchange rather than fake an answer.
    static func body(_ status: Int, contentType: String?, _ body: ByteBuffer) -> Response {
        var headers = HTTPFields()
        if let contentType { headers[.contentType] = contentType }
        return Response(status: httpStatus(status), headers: headers, body: ResponseBody(byteBuffer: body))
    }

    /// A JSON document of fixed text: the faults' deliberately broken documents.
    static func fixedJSON(_ status: Int, _ text: String) -> Response {
        body(status, contentType: "application/json", ByteBuffer(string: text))
    }

    /// `value` as JSON, encoded (never assembled by hand, so any text is escaped right).
    static func json(_ status: Int, _ value: some Encodable, contentType: String = "application/json") -> Response {
        guard let data = try? encoder.encode(value) else {
            return body(500, contentType: "text/plain", ByteBuffer(string: "could not encode the answer"))
        }
        return body(status, contentType: contentType, ByteBuffer(bytes: data))
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func empty(_ status: Int) -> Response {
        Response(status: httpStatus(status), headers: [.contentLength: "0"], body: ResponseBody())
    }

    /// A Provisioning API error: `{"errorCode","message","resolution"}`. Never echoes request data.
    static func papiError(_ status: Int, code: String, validationErrors: [String]? = nil) -> Response {
        let (message, resolution) = PAPIErrorText.text(for: code)
        return json(
            status,
            PAPIError(
                errorCode: code,
                message: message,
                resolution: resolution,
                additionalInformation: validationErrors.map { PAPIError.Information(validationErrors: $0) }
            )
        )
    }

    /// An RFC 7807 problem, as Sinch's gateway answers 401 and 429.
    static func problem(_ status: Int, title: String, detail: String, retryAfter: String? = nil) -> Response {
        let type = "https://developers.sinch.com/docs/errors/\(status)"
        var response = json(
            status,
            Problem(type: type, title: title, detail: detail),
            contentType: "application/problem+json"
        )
        if let retryAfter { response.headers[.retryAfter] = retryAfter }
        return response
    }

    static func unauthorized() -> Response {
        problem(401, title: "Unauthorized", detail: "The request lacks valid credentials for the target resource.")
    }

    static func tooManyRequests(retryAfter: String?) -> Response {
        problem(429, title: "Too Many Requests", detail: "Rate limit exceeded.", retryAfter: retryAfter)
    }

    /// The page a proxy answers with when the API behind it fails.
    static func html(_ status: Int) -> Response {
        let status = httpStatus(status).code
        let heading = "\(status) \(reasonPhrase(status))"
        let text = "<html><head><title>\(heading)</title></head><body><h1>\(heading)</h1></body></html>"
        return body(status, contentType: "text/html; charset=utf-8", ByteBuffer(string: text))
    }

    static func methodNotAllowed(allow: HTTPRequest.Method) -> Response {
        var response = papiError(405, code: "method_not_allowed")
        response.headers[.allow] = allow.rawValue
        return response
    }

    private static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 408: "Request Timeout"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 200..<300: "OK"
        default: "Error"
        }
    }

    private static func httpStatus(_ code: Int) -> HTTPResponse.Status {
        HTTPResponse.Status(code: (200...599).contains(code) ? code : 500)
    }
}

/// Human text for each `errorCode` FakeSinch may send, after Sinch's own wording.
enum PAPIErrorText {
    static func text(for code: String) -> (message: String, resolution: String) {
        switch code {
        case "invalid_input":
            ("Invalid input.", "Correct the validation errors and submit again.")
        case "invalid_payload":
            ("The request payload could not be parsed.", "Send a valid JSON document.")
        case "invalid_business_manager":
            (
                "Invalid business manager.",
                "Use one of SINCH_AMERICA, SINCH_BR, SINCH_MX, SINCH_SEP, SINCH_UK."
            )
        case "invalid_business_manager_for_environment":
            ("The business manager is not available in this environment.", "Use another business manager.")
        case "invalid_facebook_token":
            ("The Facebook token is invalid or expired.", "Ask the customer to complete Embedded Signup again.")
        case "invalid_facebook_code":
            (
                "The Facebook code is invalid or has already been used.",
                "Ask the customer to complete Embedded Signup again."
            )
        case "unauthorized_error":
            ("Unauthorized.", "Check the access key.")
        case "facebook_Request_limit_reached":
            ("Facebook request limit reached.", "Wait before retrying.")
        case "log_in_facebook_required":
            ("The user must log in to Facebook.", "Ask the customer to log in to Facebook and sign up again.")
        case "internal_error":
            ("Internal error.", "Retry later.")
        case "project_not_initialized":
            ("The project is not initialized for WhatsApp.", "Complete the WhatsApp setup for this project.")
        case "template_insights_not_yet_available":
            ("Template insights are not yet available.", "Retry later.")
        case "not_found":
            ("Resource not found.", "Check the request path.")
        case "method_not_allowed":
            ("Method not allowed.", "Use the method the API reference names for this path.")
        case "payload_too_large":
            ("The request payload is too large.", "Send a smaller request.")
        default:
            ("Injected failure.", "Retry later.")
        }
    }
}
