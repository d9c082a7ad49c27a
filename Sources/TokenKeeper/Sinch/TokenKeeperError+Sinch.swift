import SinchProvisioning

extension TokenKeeperError {
    /// The CLI's view of a failed Sinch call made while doing `action` ("exchanging the code").
    ///
    /// Credentials refused, throttling and unreachable Sinch exit 69; an answer that says the
    /// input is wrong (a dead token, a used code, a bad request) exits 65.
    package init(_ error: SinchError, while action: String) {
        let status = error.status.map { "HTTP \($0), " } ?? ""
        let detail = error.message.isEmpty ? "" : ": \(error.message)"
        switch error.errorClass {
        case .credentials:
            // The client's message already names the credential source.
            self.init(.credentialsRefused, "\(error.message) (\(status)\(error.code)), while \(action)")
        case .throttled:
            var retry = ""
            if let after = error.retryAfter { retry = "; Sinch asks to retry after \(after.components.seconds)s" }
            self.init(
                .sinchUnavailable,
                "Sinch is throttling this project while \(action) (\(status)\(error.code))\(detail)\(retry)"
            )
        case .transient:
            self.init(.sinchUnavailable, "Sinch could not be reached while \(action) (\(status)\(error.code))\(detail)")
        case .permanent:
            self.init(.invalidInput, "Meta refused the token while \(action) (\(status)\(error.code))\(detail)")
        case .badRequest:
            self.init(.invalidInput, "Sinch refused the request while \(action) (\(status)\(error.code))\(detail)")
        case .cancelled:
            self.init(.sinchUnavailable, "the call to Sinch was cancelled while \(action)")
        }
    }
}
