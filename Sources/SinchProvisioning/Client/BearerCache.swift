/// The cached bearer token and the renewal in flight, if any.
///
/// Callers that find no usable bearer while a renewal runs wait for that renewal rather than
/// start their own, so a burst of calls costs one token request.
actor BearerCache {
    struct Bearer: Sendable {
        var value: String
        /// Unix seconds after which the bearer is renewed before use.
        var renewAt: Double
        /// Unix seconds after which Sinch refuses it.
        var expiresAt: Double
    }

    private var current: Bearer?
    private var renewal: Task<Result<Bearer, SinchError>, Never>?

    func bearer(
        now: Double,
        fetch: @escaping @Sendable () async throws(SinchError) -> Bearer
    ) async throws(SinchError) -> String {
        if let current, now < current.renewAt { return current.value }
        let task: Task<Result<Bearer, SinchError>, Never>
        if let renewal {
            task = renewal
        } else {
            // Unstructured on purpose: a cancelled first caller must not fail the others waiting.
            task = Task { () async -> Result<Bearer, SinchError> in
                do throws(SinchError) { return .success(try await fetch()) } catch { return .failure(error) }
            }
            renewal = task
        }
        let result = await task.value
        // Only the first waiter to resume records the outcome; a late one must not overwrite a
        // bearer renewed (or invalidated) since.
        if renewal == task {
            renewal = nil
            if case .success(let bearer) = result { current = bearer }
        }
        switch result {
        case .success(let bearer):
            return bearer.value
        case .failure(let error):
            // An early renewal that failed leaves a bearer that still works until it expires.
            if let current, now < current.expiresAt { return current.value }
            throw error
        }
    }

    /// Forgets `value` (the API refused it) unless a newer bearer replaced it already.
    func invalidate(_ value: String) {
        if current?.value == value { current = nil }
    }
}
