import Logging
import SinchProvisioning

/// One claimed token through exchange, commit, hooks and logs.
extension RefreshEngine {
    enum Attempt: Sendable { case refreshed, notExtended, failed, needsReauth, skipped }

    /// Refreshes `record`, whose lease this process holds. When something throws (the database),
    /// the lease is let go before the error goes on, so the next pass can try again at once.
    func attempt(
        _ record: TokenRecord,
        force: Bool = false,
        shouldContinue: @escaping @Sendable () -> Bool = { true }
    ) async throws -> Attempt {
        do {
            return try await attemptHeld(record, force: force, shouldContinue: shouldContinue)
        } catch {
            try? await release(record.id)
            throw error
        }
    }

    private func attemptHeld(
        _ record: TokenRecord,
        force: Bool,
        shouldContinue: @escaping @Sendable () -> Bool
    ) async throws -> Attempt {
        let clock = ledger.clock
        guard force || !isPaused(record) else {
            try await release(record.id)
            return .skipped
        }
        let facts = RefreshStateMachine.Token(
            state: record.state,
            failures: record.failures,
            issuedAt: record.issuedAt,
            expiresAt: record.expiresAt
        )
        if record.expiresAt <= clock.now {
            let now = clock.now
            return try await finish(machine.expire(facts, now: now), record: record, now: now)
        }
        // The claim returned the record: open it rather than read it again.
        let current = try ledger.open(record)
        guard
            let (answer, judged) = try await callSinch(
                record,
                current: current,
                force: force,
                shouldContinue: shouldContinue,
                judge: { self.judge($0, facts: facts, record: record) }
            )
        else { return .skipped }
        switch judged.action {
        case .release:
            try await release(record.id)
            return .skipped
        case .commit(let decision):
            return try await finish(
                decision,
                record: record,
                now: judged.now,
                newToken: answer.newToken,
                outcome: answer.outcome,
                elapsed: answer.elapsed
            )
        }
    }

    /// Decides what `answer` means for `record` and, when it pauses the project, pauses it in
    /// this process at once (logged and counted): run while the call slot is still held, so no
    /// call waiting for the slot can start for a project this answer has just paused.
    private func judge(
        _ answer: Answer,
        facts: RefreshStateMachine.Token,
        record: TokenRecord
    ) -> (action: RefreshStateMachine.Action, now: UnixTime) {
        let now = ledger.clock.now
        var failure: SinchError?
        if case .failed(let error) = answer.outcome { failure = error }
        let timedOut = failure?.isTimeout ?? false
        let (strikes, timeouts) = gate.count(record.projectID, timedOut: timedOut, at: now)
        var generator = SystemRandom()
        let action = machine.decide(
            facts,
            outcome: answer.outcome,
            now: now,
            projectStrikes: strikes,
            projectTimeouts: timeouts,
            using: &generator
        )
        guard case .commit(let decision) = action else { return (action, now) }
        if gate.apply(decision, to: record.projectID, at: now), let until = decision.pauseProjectUntil, let failure {
            announcePause(of: record.projectID, until: until, after: failure)
        }
        return (action, now)
    }

    /// Logs and counts a project pause this process started (a refresh's answer or a probe's).
    func announcePause(of project: String, until: UnixTime, after failure: SinchError) {
        RefreshMetrics.recordPause(failure)
        logger.warning(
            "project paused",
            metadata: [
                "sinch.project": "\(project)", "until": "\(RFC3339.format(until))",
                "error.class": "\(failure.errorClass)", "error.code": "\(failure.code)",
            ]
        )
    }

    /// What Sinch answered, and how long it took.
    private struct Answer: Sendable {
        var outcome: RefreshStateMachine.Outcome
        var newToken: String?
        var elapsed: Duration
    }

    /// Takes a call slot, waits for the project's rate slot, then asks Sinch and judges the
    /// answer; nil when the token is no longer to be called (the process is stopping, its project
    /// was paused meanwhile, or its lease lost). The slot is held until the answer is judged
    /// only: the commit happens without it.
    private func callSinch<Judged: Sendable>(
        _ record: TokenRecord,
        current: String,
        force: Bool,
        shouldContinue: @Sendable () -> Bool,
        judge: @Sendable (Answer) -> Judged
    ) async throws -> (Answer, Judged)? {
        try await slots.withSlot {
            // A slot of the fleet's budget for the project, at this process's pace.
            try await fleetRate.take(record.projectID)
            // A stop, or a 429 that paused the project, may have come while this one waited.
            guard shouldContinue(), force || !isPaused(record) else {
                try await release(record.id)
                return nil
            }
            // A record that waited long in its chunk renews its lease before calling, or gives up.
            guard try await holdsLease(record) else { return nil }
            let started = ContinuousClock.now
            do throws(SinchError) {
                let token = try await exchanger.refresh(
                    token: current,
                    project: record.projectID,
                    businessManager: record.businessManager
                )
                let outcome = RefreshStateMachine.Outcome.refreshed(sameValue: token == current)
                let answer = Answer(outcome: outcome, newToken: token, elapsed: ContinuousClock.now - started)
                return (answer, judge(answer))
            } catch {
                let answer = Answer(outcome: .failed(error), newToken: nil, elapsed: ContinuousClock.now - started)
                return (answer, judge(answer))
            }
        }
    }

    /// Commits `decision` with its audit row, then records, runs the hooks and logs: the same
    /// ending for a refresh, a failure and a token found expired.
    /// A probe's refusal comes through here too, not counted as a refresh (`countsAsRefresh`).
    func finish(
        _ decision: RefreshStateMachine.Decision,
        record: TokenRecord,
        now: UnixTime,
        newToken: String? = nil,
        outcome: RefreshStateMachine.Outcome? = nil,
        elapsed: Duration? = nil,
        countsAsRefresh: Bool = true
    ) async throws -> Attempt {
        var detail = AuditDetail(attempt: record.failures + 1, latencyMs: elapsed.map { Int($0.milliseconds) })
        if case .failed(let error) = outcome {
            detail.httpStatus = error.status
            detail.errorClass = decision.lastError?.errorClass
            detail.errorCode = error.code
        }
        let committed = try await commitKeeping(
            ledger.prepare(decision, for: record, newToken: newToken, detail: detail, now: now),
            newToken: decision.storesNewToken ? newToken : nil
        )
        // Built only for a line that is logged: run-once logs warnings and up.
        func about(_ extra: Logger.Metadata = [:]) -> Logger.Metadata {
            var metadata: Logger.Metadata = ["token.id": "\(record.id)", "sinch.project": "\(record.projectID)"]
            if let elapsed { metadata["latency_ms"] = "\(elapsed.milliseconds)" }
            if let error = decision.lastError {
                metadata["error.code"] = "\(error.code)"
                metadata["error.class"] = "\(error.errorClass)"
            }
            return metadata.merging(extra) { $1 }
        }
        guard committed else {
            logger.warning("lease lost before commit; another process's outcome stands", metadata: about())
            return .skipped
        }
        if countsAsRefresh { RefreshMetrics.record(decision, latency: elapsed) }
        activity.attempted(at: inventory.clock.now, errorClass: decision.lastError?.errorClass)
        // Past the commit the refresh stands: its hooks run to their own limit even when the
        // daemon's grace period runs out (cancelling them would leave an app on the old token).
        var failures: [(hook: RefreshStateMachine.Hook, reason: String)] = []
        if let hooks, decision.hooks.contains(where: hooks.isConfigured) {
            failures = await Task {
                await self.runHooks(decision, record: record, newToken: newToken, outcome: outcome)
            }.value
        }
        for failure in failures {
            logger.warning(
                "hook failed",
                metadata: about(["hook": "\(failure.hook.rawValue)", "reason": "\(failure.reason)"])
            )
        }
        switch decision.state {
        case .active where decision.event == .notExtended:
            logger.warning(
                "Sinch returned the token unchanged: its expiry stays",
                metadata: about([
                    "expires_at": "\(RFC3339.format(decision.expiresAt))",
                    "next_try": "\(RFC3339.format(decision.refreshAt))",
                ])
            )
            return .notExtended
        case .active:
            logger.info("refreshed", metadata: about())
            return .refreshed
        case .needsReauth:
            logger.error("token refused by Meta: needs a new Embedded Signup", metadata: about())
            return .needsReauth
        case .expired:
            logger.error("token expired before it could be refreshed: needs a new Embedded Signup", metadata: about())
            return .failed
        case .retrying:
            logger.warning("refresh failed", metadata: about())
            return .failed
        }
    }

    /// Commits `outcome`. A token Sinch issued (`newToken`) is never dropped: while the store
    /// fails in a way that may pass (a server restarting, a deadlock, a busy file), the commit
    /// is tried again, backing off to 2 s, until the token's lease ends (no other process can
    /// take the token before that, and the commit checks it still holds it); past that, on an
    /// error that will not pass (a full disk), or when this process is stopped meanwhile, the
    /// token goes to a recovery file and the error names it. When another process took the token
    /// after all, its outcome stands and this token goes to a recovery file too (logged). An
    /// outcome without a new token is not kept: its token is unchanged.
    private func commitKeeping(_ outcome: RefreshLedger.Outcome, newToken: String?) async throws -> Bool {
        let record = outcome.record
        let deadline = record.leaseUntil ?? outcome.now + ledger.lease
        var delay = Duration.milliseconds(100)
        while true {
            let committed: Bool
            do {
                committed = try await committer.commit(outcome)
            } catch {
                guard let newToken else { throw error }
                let reason = store.mapError(error).message
                guard store.isTransient(error), ledger.clock.now < deadline, !Task.isCancelled else {
                    throw keep(newToken, of: record, after: reason)
                }
                logger.warning(
                    "commit failed; trying again while the lease holds",
                    metadata: [
                        "token.id": "\(record.id)", "sinch.project": "\(record.projectID)", "error": "\(reason)",
                    ]
                )
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(2))
                continue
            }
            guard !committed, let newToken else { return committed }
            // A try that failed may have committed all the same (the answer lost with the
            // connection): then the store holds this very token.
            let stored = try? await onLedger { ledger in try ledger.store.read { try $0.token(id: record.id) } }
            if let fingerprint = outcome.fingerprint, stored?.fingerprint == fingerprint { return true }
            // Another process's outcome stands; the token this one got is still a live one.
            _ = keep(newToken, of: record, after: "another process took the token while this one exchanged it")
            return false
        }
    }

    /// Seals the refreshed `token` of `record` into a recovery file beside the store, to replace
    /// the record's token (`add --recover FILE`); the error that names it.
    private func keep(_ token: String, of record: TokenRecord, after reason: String) -> TokenKeeperError {
        let new = NewToken(
            project: record.projectID,
            label: record.label,
            waba: record.wabaID,
            businessManager: record.businessManager
        )
        let message = "the token Sinch returned for \(record.id) could not be stored (\(reason))"
        do {
            let path = try inventory.keepInRecoveryFile(token, new, replacing: record.id, obtainedAt: ledger.clock.now)
            logger.error(
                "refreshed token kept in a recovery file",
                metadata: ["token.id": "\(record.id)", "sinch.project": "\(record.projectID)", "file": "\(path)"]
            )
            return TokenKeeperError(
                .database,
                "\(message); it is kept sealed in \(path) (0600): store it with `tokenkeeper add --recover \(path)`"
            )
        } catch {
            return TokenKeeperError(.database, "\(message), nor kept in a recovery file (\(error))")
        }
    }

    /// Runs the decision's hooks after the commit; a failure is audited `hook_failed` (and
    /// returned, to be logged) and never undoes the refresh.
    private func runHooks(
        _ decision: RefreshStateMachine.Decision,
        record: TokenRecord,
        newToken: String?,
        outcome: RefreshStateMachine.Outcome?
    ) async -> [(hook: RefreshStateMachine.Hook, reason: String)] {
        guard let hooks else { return [] }
        var failures: [(hook: RefreshStateMachine.Hook, reason: String)] = []
        var updated = record
        updated.expiresAt = decision.expiresAt
        var errorText: String?
        if case .failed(let error) = outcome { errorText = error.description }
        for hook in decision.hooks where hooks.isConfigured(hook) {
            guard
                let failure = await hooks.run(
                    hook,
                    record: updated,
                    token: hook == .deploy ? newToken : nil,
                    error: errorText
                )
            else { continue }
            failures.append((hook, failure))
            try? await onLedger { [record] in try $0.recordHookFailure(failure, of: record) }
        }
        return failures
    }

    private func isPaused(_ record: TokenRecord) -> Bool {
        gate.isPaused(record, at: ledger.clock.now)
    }

    private func release(_ id: String) async throws {
        try await onLedger { try $0.release([id]) }
    }

    /// True when the lease on `record` outlasts the longest call to Sinch (``callBudget``), or was
    /// renewed; false when it lapsed and another process took the token meanwhile. A call that
    /// outlived its lease could let a second process exchange the same token.
    private func holdsLease(_ record: TokenRecord) async throws -> Bool {
        let now = ledger.clock.now
        guard let until = record.leaseUntil, until < now + callBudget else { return true }
        return try await onLedger { try $0.renew(record, now: now) }
    }
}
