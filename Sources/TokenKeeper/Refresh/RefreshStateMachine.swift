import SinchProvisioning

/// What happens to a token after one refresh attempt: the decisions of <doc:Architecture#Token-states>,
/// <doc:SinchAPI#The-renewal-policy> and <doc:SinchAPI#The-classification-table>, with no I/O. The engine carries them out.
package struct RefreshStateMachine: Sendable {
    /// The facts about the token the decision needs.
    package struct Token: Sendable, Equatable {
        package var state: TokenState
        package var failures: Int
        package var issuedAt: UnixTime
        package var expiresAt: UnixTime

        package init(state: TokenState, failures: Int, issuedAt: UnixTime, expiresAt: UnixTime) {
            self.state = state
            self.failures = failures
            self.issuedAt = issuedAt
            self.expiresAt = expiresAt
        }
    }

    /// How the attempt ended.
    package enum Outcome: Sendable {
        /// Sinch returned a token; `sameValue` when Meta handed back the one we sent.
        case refreshed(sameValue: Bool)
        /// Sinch answered with an error, or did not answer.
        case failed(SinchError)
    }

    /// The hooks of <doc:CLIContract#Hooks>, run after the commit.
    package enum Hook: String, Sendable, CaseIterable {
        case deploy, failure, reauth, recovered
    }

    /// What to write in the commit transaction and do afterwards.
    package struct Decision: Sendable, Equatable {
        package var state: TokenState
        package var failures: Int
        /// The new issue time and expiry, on success.
        package var issuedAt: UnixTime
        package var expiresAt: UnixTime
        package var refreshAt: UnixTime
        package var lastError: LastError?
        /// True when the token value changes (a success): seal and store the new one.
        package var storesNewToken: Bool
        package var event: AuditEvent
        /// A line for the audit detail (a same-value refresh, a configuration error).
        package var note: String?
        package var hooks: [Hook]
        /// Until when the token's whole project must wait (throttling, refused credentials).
        package var pauseProjectUntil: UnixTime?
    }

    /// What the engine does with the attempt.
    package enum Action: Sendable, Equatable {
        /// Commit `Decision` with the audit row, then run its hooks.
        case commit(Decision)
        /// Change nothing but the lease: the attempt was abandoned (shutdown), it says nothing
        /// about the token.
        case release
    }

    package let policy: RenewalPolicy

    package init(policy: RenewalPolicy) {
        self.policy = policy
    }

    /// How long a project waits after throttling or refused credentials, whoever asked (a
    /// refresh or a probe): what Sinch said (`Retry-After`), else the backoff for its `strikes`
    /// pauses in a row so far.
    package func projectPause(after error: SinchError, strikes: Int) -> Duration {
        error.retryAfter ?? policy.backoffCeiling(afterFailure: strikes + 1)
    }

    /// The decision for `token` after an attempt that ended with `outcome` at `now`.
    ///
    /// - Parameters:
    ///   - projectStrikes: the project's consecutive pauses so far (throttling, credentials or
    ///     timeouts), which size its next pause.
    ///   - projectTimeouts: the project's calls in a row that timed out before this one.
    package func decide(
        _ token: Token,
        outcome: Outcome,
        now: UnixTime,
        projectStrikes: Int = 0,
        projectTimeouts: Int = 0,
        using generator: inout some RandomNumberGenerator
    ) -> Action {
        switch outcome {
        case .refreshed(sameValue: true):
            return .commit(notExtended(token, now: now))
        case .refreshed(sameValue: false):
            let expiresAt = now + policy.lifetime
            var hooks: [Hook] = [.deploy]
            if token.failures > 0 || token.state != .active { hooks.append(.recovered) }
            return .commit(
                Decision(
                    state: .active,
                    failures: 0,
                    issuedAt: now,
                    expiresAt: expiresAt,
                    refreshAt: policy.firstRefresh(issuedAt: now, expiresAt: expiresAt, using: &generator),
                    lastError: nil,
                    storesNewToken: true,
                    event: .refreshed,
                    note: nil,
                    hooks: hooks,
                    pauseProjectUntil: nil
                )
            )
        case .failed(let error):
            return failure(
                token,
                error: error,
                now: now,
                projectStrikes: projectStrikes,
                projectTimeouts: projectTimeouts,
                using: &generator
            )
        }
    }

    /// Calls in a row that time out before a project pauses: a Sinch that hangs then costs a
    /// bounded time per pass (this many timeouts, not one per token).
    package static let timeoutsBeforePause = 3

    /// Sinch handed back the token that was sent. Meta extends a token at most once a day, and a
    /// re-exchange may return it unchanged: that proves nothing about its expiry, which stays.
    /// The token is tried again after `min_age` (never past its last safe moment), and `check`
    /// and the metrics go on seeing its real expiry.
    func notExtended(_ token: Token, now: UnixTime) -> Decision {
        let latest = RenewalPolicy.lastSafeMoment(expiresAt: token.expiresAt)
        var next = now + policy.minAge
        if next > latest { next = latest > now ? latest : now + policy.backoffMin }
        return Decision(
            state: .active,
            failures: 0,
            issuedAt: token.issuedAt,
            expiresAt: token.expiresAt,
            refreshAt: next,
            lastError: nil,
            storesNewToken: false,
            event: .notExtended,
            note: "Sinch returned the token unchanged (Meta extends a token at most once a day): its expiry stays "
                + "\(RFC3339.format(token.expiresAt)); next try at \(RFC3339.format(next))",
            hooks: [],
            pauseProjectUntil: nil
        )
    }

    /// A token found past its expiry without a refresh: it is dead.
    package func expire(_ token: Token, now: UnixTime) -> Decision {
        Decision(
            state: .expired,
            failures: token.failures,
            issuedAt: token.issuedAt,
            expiresAt: token.expiresAt,
            refreshAt: token.expiresAt,
            lastError: nil,
            storesNewToken: false,
            event: .expired,
            note: nil,
            hooks: [.reauth],
            pauseProjectUntil: nil
        )
    }

    private func failure(
        _ token: Token,
        error: SinchError,
        now: UnixTime,
        projectStrikes: Int,
        projectTimeouts: Int,
        using generator: inout some RandomNumberGenerator
    ) -> Action {
        if error.errorClass == .cancelled { return .release }
        var decision = Decision(
            state: .retrying,
            failures: token.failures + 1,
            issuedAt: token.issuedAt,
            expiresAt: token.expiresAt,
            refreshAt: now,
            lastError: LastError(error, at: now),
            storesNewToken: false,
            event: .refreshFailed,
            note: nil,
            hooks: [.failure],
            pauseProjectUntil: nil
        )
        switch error.errorClass {
        case .permanent:
            // A dead token: say so at once, never try again.
            decision.state = .needsReauth
            decision.event = .needsReauth
            decision.hooks = [.reauth]
            decision.refreshAt = token.expiresAt
            return .commit(decision)
        case .badRequest:
            // Our request is wrong, not the token: retry at the longest backoff and say why.
            decision.refreshAt = policy.retryTime(
                afterFailure: Int.max,
                now: now,
                expiresAt: token.expiresAt,
                notBefore: policy.backoffMax,
                using: &generator
            )
            decision.note = "Sinch refused the request (\(error.code)): check the configuration"
        case .throttled, .credentials:
            // Not this token's fault: the whole project waits, and the token is not charged.
            decision.failures = token.failures
            let pause = projectPause(after: error, strikes: projectStrikes)
            decision.pauseProjectUntil = now + pause
            var note = "the project's refreshes pause until \(RFC3339.format(now + pause))"
            decision.refreshAt = policy.retryTime(
                afterFailure: 1,
                now: now,
                expiresAt: token.expiresAt,
                notBefore: pause,
                using: &generator
            )
            if decision.refreshAt < now + pause {
                // The pause outlives the token: it is tried at its last safe moment regardless.
                note += "; it ends after this token's last safe moment, so the token is tried at "
                note += RFC3339.format(decision.refreshAt)
            }
            decision.note = note
        case .transient:
            var pause: Duration?
            if error.isTimeout, projectTimeouts + 1 >= Self.timeoutsBeforePause {
                // Sinch is not answering: the project waits, as it would for throttling.
                let wait = policy.backoffCeiling(afterFailure: projectStrikes + 1)
                pause = wait
                decision.pauseProjectUntil = now + wait
                decision.note =
                    "\(projectTimeouts + 1) calls in a row timed out: the project's refreshes pause until "
                    + RFC3339.format(now + wait)
            }
            decision.refreshAt = policy.retryTime(
                afterFailure: decision.failures,
                now: now,
                expiresAt: token.expiresAt,
                notBefore: pause,
                using: &generator
            )
        case .cancelled:
            return .release
        }
        if now >= token.expiresAt {
            return .commit(expire(token, now: now))
        }
        return .commit(decision)
    }
}

extension LastError {
    /// `last_error` as <doc:CLIContract#JSON> spells it; a refused request is `permanent` there
    /// (<doc:SinchAPI#The-classification-table> files "other 400" under permanent, though the
    /// token itself is not dead).
    init(_ error: SinchError, at: UnixTime) {
        let errorClass = error.errorClass == .badRequest ? "permanent" : error.errorClass.rawValue
        self.init(errorClass: errorClass, code: error.code, status: error.status, message: error.message, at: at)
    }
}
