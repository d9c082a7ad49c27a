import SinchProvisioning

/// What the refresh engine needs from Sinch: one long-lived token in, a fresh one out.
///
/// ``SinchClient`` is the real one; unit tests below the engine may answer in process.
package protocol TokenExchanging: Sendable {
    func refresh(token: String, project: String, businessManager: String?) async throws(SinchError) -> String
}

extension SinchClient: TokenExchanging {}

/// What a probe needs from Sinch: whether Meta still accepts a token, without refreshing it.
///
/// ``SinchClient`` asks `wabaDetails` with the token; unit tests below the engine may answer in
/// process.
package protocol TokenProbing: Sendable {
    /// Returns when the token was accepted; throws Sinch's answer otherwise.
    func probe(token: String, project: String) async throws(SinchError)
}

extension SinchClient: TokenProbing {
    package func probe(token: String, project: String) async throws(SinchError) {
        _ = try await wabaDetails(token: token, project: project)
    }
}
