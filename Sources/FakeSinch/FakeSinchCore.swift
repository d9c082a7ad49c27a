import Foundation
import Synchronization

/// The state and settings shared by ``FakeSinch`` and its HTTP handlers.
final class FakeSinchCore: Sendable {
    let configuration: FakeSinchConfiguration
    let state: Mutex<FakeSinchState>
    let tokenLifetime: Double
    let bearerLifetime: Double
    private let keyCredentials: [UInt8]

    init(configuration: FakeSinchConfiguration) {
        self.configuration = configuration
        state = Mutex(FakeSinchState(oauthRateLimit: configuration.oauthRateLimit))
        tokenLifetime = configuration.tokenLifetime.fakeSinchSeconds
        bearerLifetime = configuration.bearerLifetime.fakeSinchSeconds
        keyCredentials = Array("\(configuration.keyID):\(configuration.keySecret)".utf8)
    }

    func now() -> Double {
        configuration.clock.secondsSince1970
    }

    /// True when `authorization` is `Basic` with the configured access key.
    func acceptsKey(_ authorization: String?) -> Bool {
        guard let (scheme, value) = Self.split(authorization), scheme == "basic",
            let decoded = Data(base64Encoded: String(value))
        else { return false }
        return Array(decoded) == keyCredentials
    }

    /// True when `authorization` is the access key or an unexpired bearer token from `/oauth2/token`.
    func authorizes(_ authorization: String?, now: Double) -> Bool {
        guard let (scheme, value) = Self.split(authorization) else { return false }
        switch scheme {
        case "basic":
            return acceptsKey(authorization)
        case "bearer":
            let bearer = String(value)
            return state.withLock { $0.isBearerValid(bearer, now: now) }
        default:
            return false
        }
    }

    private static func split(_ authorization: String?) -> (scheme: String, value: Substring)? {
        guard let authorization, let space = authorization.firstIndex(of: " ") else { return nil }
        let value = authorization[authorization.index(after: space)...].drop(while: { $0 == " " })
        return (authorization[..<space].lowercased(), value)
    }
}

// MARK: Test-side control, shared by ``FakeSinch`` and the admin API.

extension FakeSinchCore {
    func issueCode(lineage: String?) -> (code: String, lineage: String) {
        state.withLock { $0.issueCode(lineage: lineage) }
    }

    func issueToken(lineage: String?, lifetime: Duration?) -> (token: String, lineage: String, expiresAt: Double) {
        let expiresAt = now() + (lifetime?.fakeSinchSeconds ?? tokenLifetime)
        let issued = state.withLock { $0.issueToken(lineage: lineage, expiresAt: expiresAt) }
        return (issued.token, issued.lineage, expiresAt)
    }

    func revoke(token: String) {
        state.withLock { $0.registry.revoke(token: token) }
    }

    func revoke(lineage: String) {
        state.withLock { $0.registry.revoke(lineage: lineage) }
    }

    func isValid(_ token: String) -> Bool {
        let now = now()
        return state.withLock { $0.registry.validToken(token, now: now) != nil }
    }

    func lineage(of token: String) -> String? {
        state.withLock { $0.registry.lineage(ofToken: token) }
    }

    func expiry(of token: String) -> Double? {
        state.withLock { $0.registry.expiry(of: token) }
    }

    func inject(_ rule: FakeSinchFaultRule) {
        state.withLock { $0.rules.add(rule) }
    }

    func clearFaults() {
        state.withLock { $0.rules.removeAll() }
    }

    func stats() -> FakeSinchStats {
        state.withLock { $0.stats.snapshot }
    }

    func resetStats() {
        state.withLock { $0.resetStats() }
    }
}
