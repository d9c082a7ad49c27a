import SinchProvisioning

/// What the refresh engine needs from Sinch: one long-lived token in, a fresh one out.
///
/// ``SinchClient`` is the real one; unit tests below the engine may answer in process.
package protocol TokenExchanging: Sendable {
    func refresh(token: String, project: String, businessManager: String?) async throws(SinchError) -> String
}

extension SinchClient: TokenExchanging {}
