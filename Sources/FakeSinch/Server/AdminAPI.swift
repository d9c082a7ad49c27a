import Foundation
import HTTPTypes
import Hummingbird

/// The test-side control API under `/_fake/`, for callers outside the process (the demo, scripts).
/// JSON in and out; not counted in the statistics.
///
/// | call | body | answer |
/// | --- | --- | --- |
/// | `POST /_fake/codes` | `{"lineage"?}` | `{"code","lineage"}` |
/// | `POST /_fake/tokens` | `{"lineage"?,"lifetime_seconds"?}` | `{"token","lineage","expires_at"}` |
/// | `POST /_fake/revoke` | `{"token"}` or `{"lineage"}` | 204 |
/// | `POST /_fake/validate` | `{"token"}` | `{"valid","lineage","expires_at"}` (null when unknown) |
/// | `POST /_fake/faults` | a ``FakeSinchFaultRule`` | 204 |
/// | `DELETE /_fake/faults` | | 204 |
/// | `GET /_fake/stats` | | ``FakeSinchStats`` |
/// | `POST /_fake/stats/reset` | | 204 |
struct AdminAPI {
    let core: FakeSinchCore

    private struct CodeRequest: Decodable {
        var lineage: String?
    }

    private struct CodeAnswer: Encodable {
        var code: String
        var lineage: String
    }

    private struct TokenRequest: Decodable {
        var lineage: String?
        var lifetimeSeconds: Double?

        enum CodingKeys: String, CodingKey {
            case lineage
            case lifetimeSeconds = "lifetime_seconds"
        }
    }

    private struct TokenAnswer: Encodable {
        var token: String
        var lineage: String
        var expiresAt: Double

        enum CodingKeys: String, CodingKey {
            case token, lineage
            case expiresAt = "expires_at"
        }
    }

    private struct RevokeRequest: Decodable {
        var token: String?
        var lineage: String?
    }

    private struct ValidateRequest: Decodable {
        var token: String
    }

    private struct ValidateAnswer: Encodable {
        var valid: Bool
        var lineage: String?
        var expiresAt: Double?

        enum CodingKeys: String, CodingKey {
            case valid, lineage
            case expiresAt = "expires_at"
        }

        func encode(to encoder: any Encoder) throws {
            // Explicit nulls: a caller can tell "unknown" from a missing field.
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(valid, forKey: .valid)
            try container.encode(lineage, forKey: .lineage)
            try container.encode(expiresAt, forKey: .expiresAt)
        }
    }

    /// The calls and the one method each accepts, to tell 405 from 404.
    private static let methods: [[String]: HTTPRequest.Method] = [
        ["codes"]: .post, ["tokens"]: .post, ["revoke"]: .post, ["validate"]: .post,
        ["stats"]: .get, ["stats", "reset"]: .post,
    ]

    func respond(path: [String], request: Request) async -> Response {
        var request = request
        guard let bytes = try? await request.collectBody(upTo: FakeSinchResponder.maxBodyBytes) else {
            return Self.failure(413, "the body is too large")
        }
        switch (request.method, path) {
        case (.post, ["codes"]):
            guard let body = Self.decode(CodeRequest.self, bytes) else { return Self.badBody }
            let issued = core.issueCode(lineage: body.lineage)
            return Self.encode(CodeAnswer(code: issued.code, lineage: issued.lineage))
        case (.post, ["tokens"]):
            guard let body = Self.decode(TokenRequest.self, bytes) else { return Self.badBody }
            let lifetime = body.lifetimeSeconds.map { Duration.milliseconds(Int64(($0 * 1000).rounded())) }
            let issued = core.issueToken(lineage: body.lineage, lifetime: lifetime)
            return Self.encode(TokenAnswer(token: issued.token, lineage: issued.lineage, expiresAt: issued.expiresAt))
        case (.post, ["revoke"]):
            guard let body = Self.decode(RevokeRequest.self, bytes), body.token != nil || body.lineage != nil else {
                return Self.failure(400, "send {\"token\"} or {\"lineage\"}")
            }
            if let token = body.token { core.revoke(token: token) }
            if let lineage = body.lineage { core.revoke(lineage: lineage) }
            return WireResponse.empty(204)
        case (.post, ["validate"]):
            guard let body = Self.decode(ValidateRequest.self, bytes) else { return Self.badBody }
            return Self.encode(
                ValidateAnswer(
                    valid: core.isValid(body.token),
                    lineage: core.lineage(of: body.token),
                    expiresAt: core.expiry(of: body.token)
                )
            )
        case (.post, ["faults"]):
            do {
                core.inject(try JSONDecoder().decode(FakeSinchFaultRule.self, from: Data(bytes.readableBytesView)))
            } catch {
                return Self.failure(400, "not a fault rule: \(error)")
            }
            return WireResponse.empty(204)
        case (.delete, ["faults"]):
            core.clearFaults()
            return WireResponse.empty(204)
        case (.get, ["stats"]):
            return Self.encode(core.stats())
        case (.post, ["stats", "reset"]):
            core.resetStats()
            return WireResponse.empty(204)
        case (_, ["faults"]):
            return Self.failure(405, "use POST or DELETE")
        case (_, let path):
            if let method = Self.methods[path] { return Self.failure(405, "use \(method.rawValue)") }
            return Self.failure(404, "no such admin call")
        }
    }

    private static var badBody: Response { failure(400, "the body is not the JSON this call expects") }

    private static func failure(_ status: Int, _ message: String) -> Response {
        WireResponse.json(status, ErrorDocument(error: message))
    }

    /// Decodes `bytes`, reading an empty body as `{}`.
    private static func decode<Body: Decodable>(_ type: Body.Type, _ bytes: ByteBuffer) -> Body? {
        let data = bytes.readableBytes == 0 ? Data("{}".utf8) : Data(bytes.readableBytesView)
        return try? JSONDecoder().decode(type, from: data)
    }

    private static func encode(_ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(value) else { return failure(500, "could not encode the answer") }
        return WireResponse.body(200, contentType: "application/json", ByteBuffer(bytes: data))
    }
}
