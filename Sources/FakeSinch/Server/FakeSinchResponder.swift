import HTTPTypes
import Hummingbird
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Answers every request: routes it, applies an injected fault, checks credentials, then plays Sinch.
struct FakeSinchResponder: HTTPResponder {
    typealias Context = FakeSinchRequestContext

    /// Largest request body read; Sinch's calls send well under a kilobyte.
    static let maxBodyBytes = 1 << 20

    let core: FakeSinchCore
    let run: ServerRun

    func respond(to request: Request, context: Context) async throws -> Response {
        switch Route(path: request.uri.path) {
        case .endpoint(let endpoint, let project):
            guard request.method == endpoint.method else {
                let now = core.now()
                core.state.withLock { $0.record(endpoint, project: project, status: 405, now: now) }
                return WireResponse.methodNotAllowed(allow: endpoint.method)
            }
            return await handle(endpoint, project: project, request: request, context: context)
        case .admin(let path):
            return await AdminAPI(core: core).respond(path: path, request: request)
        case .notFound:
            return WireResponse.papiError(404, code: "not_found")
        }
    }

    private func handle(
        _ endpoint: FakeSinchEndpoint,
        project: String?,
        request: Request,
        context: Context
    ) async -> Response {
        var request = request
        let bytes: ByteBuffer
        do {
            bytes = try await request.collectBody(upTo: Self.maxBodyBytes)
        } catch {
            let now = core.now()
            core.state.withLock { $0.record(endpoint, project: project, status: 413, now: now) }
            return WireResponse.papiError(413, code: "payload_too_large")
        }
        let body = endpoint.readsJSONBody ? ProvisioningBody(parsing: bytes) : nil
        let now = core.now()
        let fault = core.state.withLock {
            $0.begin(
                endpoint,
                project: project,
                facebookToken: body?.facebookToken,
                facebookCode: body?.facebookCode,
                userAgent: request.headers[.userAgent],
                now: now
            )
        }
        // Counted before the client can see the outcome, so a test reading the statistics right
        // after its request returns finds it there.
        let finish = { (status: Int) in core.state.withLock { $0.finish(endpoint, status: status) } }

        switch fault {
        case .latency(let duration):
            await run.pause(for: duration)
        case .hang:
            let channel = context.channel
            await run.pause(for: core.configuration.hangLimit, while: { channel.isActive })
            finish(0)
            try? await channel.close()
            return Self.unanswered
        case .reset:
            finish(0)
            await Self.reset(context.channel)
            return Self.unanswered
        case .some(let fault):
            if let response = FaultResponse.make(fault, endpoint: endpoint) {
                finish(response.status.code)
                return response
            }
        case nil:
            break
        }

        let response = answer(endpoint, authorization: request.headers[.authorization], body: body, bytes: bytes)
        finish(response.status.code)
        return response
    }

    /// What Sinch would answer.
    private func answer(
        _ endpoint: FakeSinchEndpoint,
        authorization: String?,
        body: ProvisioningBody?,
        bytes: ByteBuffer
    ) -> Response {
        let now = core.now()
        if endpoint == .oauthToken {
            return oauthToken(authorization: authorization, form: OAuthForm(parsing: bytes), now: now)
        }
        guard core.authorizes(authorization, now: now) else { return WireResponse.unauthorized() }
        switch endpoint {
        case .longLivedAccessToken:
            return longLivedAccessToken(body, now: now)
        case .wabaDetails:
            return wabaDetails(body, now: now)
        case .enableTemplateAnalytics, .oauthToken:
            return WireResponse.empty(200)
        }
    }

    private func oauthToken(authorization: String?, form: OAuthForm, now: Double) -> Response {
        guard core.state.withLock({ $0.takeOAuthSlot(now: now) }) else {
            return WireResponse.tooManyRequests(retryAfter: nil)
        }
        guard core.acceptsKey(authorization) else { return WireResponse.unauthorized() }
        guard form.fields["grant_type"] == "client_credentials" else {
            return WireResponse.json(400, ErrorDocument(error: "unsupported_grant_type"))
        }
        let lifetime = core.bearerLifetime
        let bearer = core.state.withLock { $0.issueBearer(now: now, expiresAt: now + lifetime) }
        let expiresIn = Int(lifetime.rounded())
        return WireResponse.json(200, OAuthTokenDocument(accessToken: bearer, expiresIn: expiresIn))
    }

    private func longLivedAccessToken(_ body: ProvisioningBody?, now: Double) -> Response {
        guard let body else { return WireResponse.papiError(400, code: "invalid_payload") }
        if body.facebookCode == nil, body.facebookToken == nil {
            return WireResponse.papiError(
                400,
                code: "invalid_input",
                validationErrors: ["Either facebookCode or facebookToken must be provided."]
            )
        }
        if let manager = body.businessManager, !ProvisioningBody.businessManagers.contains(manager) {
            return WireResponse.papiError(400, code: "invalid_business_manager")
        }
        let expiresAt = now + core.tokenLifetime
        let exchange = core.state.withLock { state in
            if let code = body.facebookCode {
                return state.exchange(code: code, expiresAt: expiresAt)
            }
            return state.refresh(token: body.facebookToken ?? "", now: now, expiresAt: expiresAt)
        }
        switch exchange {
        case .issued(let token, _):
            return WireResponse.json(201, LongLivedAccessTokenDocument(longLivedAccessToken: token))
        case .invalidCode:
            return WireResponse.papiError(400, code: "invalid_facebook_code")
        case .invalidToken:
            return WireResponse.papiError(400, code: "invalid_facebook_token")
        }
    }

    private func wabaDetails(_ body: ProvisioningBody?, now: Double) -> Response {
        guard let body else { return WireResponse.papiError(400, code: "invalid_payload") }
        guard let token = body.facebookToken else {
            return WireResponse.papiError(
                400,
                code: "invalid_input",
                validationErrors: ["facebookToken must be provided."]
            )
        }
        guard let lineage = core.state.withLock({ $0.registry.validToken(token, now: now)?.lineage }) else {
            return WireResponse.papiError(400, code: "invalid_facebook_token")
        }
        let waba = Self.digits(lineage, salt: "waba")
        let number = Self.digits(lineage, salt: "number")
        let phone = WABADetailsDocument.Number(id: number, displayPhoneNumber: "+46 70 123 45 67", provisioned: true)
        return WireResponse.json(
            200,
            WABADetailsDocument(wabas: [.init(id: waba, name: "WABA \(lineage)", numbers: [phone])])
        )
    }

    /// A stable 15-digit id for `lineage` (FNV-1a), like Meta's numeric ids.
    static func digits(_ lineage: String, salt: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in (salt + ":" + lineage).utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return String(100_000_000_000_000 + hash % 900_000_000_000_000)
    }

    /// The response returned after the connection is gone: writing it fails, so nothing is sent.
    private static var unanswered: Response { Response(status: .ok) }

    /// Closes the connection with a TCP reset: `SO_LINGER` on with a zero timeout, then close.
    private static func reset(_ channel: any Channel) async {
        if let provider = channel as? any SocketOptionProvider {
            try? await provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
        }
        try? await channel.close()
    }
}

extension FakeSinchEndpoint {
    /// True for the calls whose JSON body names a token or code.
    var readsJSONBody: Bool {
        self == .longLivedAccessToken || self == .wabaDetails
    }
}
