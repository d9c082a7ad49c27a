import Hummingbird

/// The answers of the faults that do answer (all but `.latency`, `.hang` and `.reset`).
enum FaultResponse {
    static func make(_ fault: FakeSinchFault, endpoint: FakeSinchEndpoint) -> Response? {
        switch fault {
        case .error(let status, let code):
            return WireResponse.papiError(status, code: code)
        case .unauthorized:
            return WireResponse.unauthorized()
        case .tooManyRequests(let retryAfter):
            return WireResponse.tooManyRequests(retryAfter: retryAfter)
        case .emptyBody(let status):
            return WireResponse.empty(status)
        case .truncatedBody:
            return WireResponse.fixedJSON(endpoint.successStatus, truncatedDocument(endpoint))
        case .html(let status):
            return WireResponse.html(status)
        case .oversizedBody(let bytes):
            return WireResponse.body(endpoint.successStatus, contentType: "application/json", padded(bytes))
        case .successWithoutToken:
            return WireResponse.fixedJSON(endpoint.successStatus, "{}")
        case .json(let status, let body):
            return WireResponse.fixedJSON(status, body)
        case .latency, .hang, .reset:
            return nil
        }
    }

    /// A success document of `endpoint`, cut in the middle.
    static func truncatedDocument(_ endpoint: FakeSinchEndpoint) -> String {
        switch endpoint {
        case .longLivedAccessToken: "{\"longLivedAccessTok"
        case .wabaDetails: "{\"wabas\":[{\"id\":\"1034"
        case .enableTemplateAnalytics: "{\"status\":\"ena"
        case .oauthToken: "{\"access_token\":\"fake-jw"
        }
    }

    /// A valid JSON document of exactly `bytes` bytes: `{"padding":"xxxx..."}`, or `{}` and spaces
    /// when too small for that.
    static func padded(_ bytes: Int) -> ByteBuffer {
        let opening = Array("{\"padding\":\"".utf8)
        let closing = Array("\"}".utf8)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(max(bytes, 2))
        if bytes >= opening.count + closing.count {
            buffer.writeBytes(opening)
            buffer.writeRepeatingByte(UInt8(ascii: "x"), count: bytes - opening.count - closing.count)
            buffer.writeBytes(closing)
        } else {
            buffer.writeString("{}")
            buffer.writeRepeatingByte(UInt8(ascii: " "), count: max(bytes - 2, 0))
        }
        return buffer
    }
}
