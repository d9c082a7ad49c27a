import Logging
import SinchProvisioning

/// `probe` and `policy.probe_every`: asks Sinch (`wabaDetails`) with a stored token whether Meta
/// still accepts it, without refreshing it. A refusal (`invalid_facebook_token`, Meta's 190)
/// moves the token to `needs_reauth` at once, audited, with the reauth hook; any other failure
/// changes nothing. Probes take the same call slots and rate limit as refreshes.
extension RefreshEngine {
    /// One token's probe.
    package enum ProbeResult: Sendable, Equatable {
        case accepted
        /// Meta refused the token: it is `needs_reauth` now.
        case refused(code: String)
        /// No verdict (a timeout, throttling, refused credentials): nothing changed.
        case failed(errorClass: String, code: String)
        /// Not probed: not live, or held by another process.
        case skipped
    }

    /// One probe's id and its result or error: a child task's result in ``probe(ids:shouldContinue:)``.
    private struct ProbeOutcome: Sendable {
        var id: String
        var result: Result<ProbeResult, any Error>
    }

    /// Probes `ids`, `limits.concurrency` at once; each id's result, in the order they end.
    /// `shouldContinue` is asked before each claim.
    package func probe(
        ids: [String],
        shouldContinue: @escaping @Sendable () -> Bool = { true }
    ) async throws -> [(id: String, result: ProbeResult)] {
        guard let prober else {
            throw TokenKeeperError(.usage, "a dry run calls nothing: probe asks Sinch")
        }
        var results: [(id: String, result: ProbeResult)] = []
        var failure: (any Error)?
        var pending = ids[...]
        // The children's result is a struct, not the tuple `(String, Result<ProbeResult, any Error>)`:
        // with that tuple and the existential `prober` captured, Swift 6.3.1's optimizer builds a
        // group whose `next()` answers nil at once, so a release build returned no results while
        // its probes ran on unawaited (the debug build was right). The release smoke of
        // scripts/test runs `probe` in the shipped binary for that reason.
        await withTaskGroup(of: ProbeOutcome.self) { group in
            func startNext() {
                guard failure == nil, shouldContinue(), let id = pending.popFirst() else { return }
                group.addTask {
                    do {
                        return ProbeOutcome(id: id, result: .success(try await self.probeOne(id, with: prober)))
                    } catch {
                        return ProbeOutcome(id: id, result: .failure(error))
                    }
                }
            }
            for _ in 0..<limits.concurrency { startNext() }
            while let outcome = await group.next() {
                switch outcome.result {
                case .success(let result): results.append((outcome.id, result))
                case .failure(let error): if failure == nil { failure = error }
                }
                startNext()
            }
        }
        if let failure { throw failure }
        return results
    }

    /// The daemon's probe pass under `policy.probe_every`: at its first pass and hourly after,
    /// gives active tokens without a probe time one, spread over the interval (a scan of the
    /// tokens); then probes those due, a batch at a time. A refused token counts in the pass's
    /// `needsReauth`.
    func probeDue(batch: Int = 1_000, shouldContinue: @escaping @Sendable () -> Bool) async throws -> Int {
        guard let every = probeEvery, prober != nil else { return 0 }
        let now = ledger.clock.now
        let schedule = probesScheduledAt.withLock { last in
            guard last.map({ now.seconds(since: $0) >= 3_600 }) ?? true else { return false }
            last = now
            return true
        }
        let ids = try await onLedger { ledger in
            try ledger.store.write { store in
                if schedule { _ = try store.scheduleProbes(now: now, every: every) }
                return try store.dueProbeIDs(now: now, limit: batch)
            }
        }
        guard !ids.isEmpty else { return 0 }
        let results = try await probe(ids: ids, shouldContinue: shouldContinue)
        return results.filter { if case .refused = $0.result { true } else { false } }.count
    }

    /// The next probe time under `policy.probe_every`, for the daemon's timer.
    func nextProbe() async throws -> UnixTime? {
        guard probeEvery != nil, prober != nil else { return nil }
        return try await onLedger { ledger in try ledger.store.read { try $0.nextProbe(now: ledger.clock.now) } }
    }

    private func probeOne(_ id: String, with prober: any TokenProbing) async throws -> ProbeResult {
        guard let record = try await onLedger({ try $0.claim([id], now: $0.clock.now, onlyIfDue: false) }).first
        else { return .skipped }
        do {
            return try await probeHeld(record, with: prober)
        } catch {
            try? await onLedger { try $0.release([id]) }
            throw error
        }
    }

    /// The no-answer of a probe not sent because its project is paused.
    static let projectPaused = SinchError(
        .throttled,
        status: nil,
        code: "project_paused",
        message: "the project is paused after throttling or a refused key; not asked"
    )

    /// Pauses `project` in this process after a probe's throttling or refused key, as a refresh's
    /// would (`Retry-After`, else the backoff for the project's pauses in a row); logged once.
    private func pauseAfterProbe(_ error: SinchError, project: String) {
        guard error.errorClass == .throttled || error.errorClass == .credentials else { return }
        let now = ledger.clock.now
        let strikes = gate.count(project, timedOut: false, at: now).strikes
        let until = now + machine.projectPause(after: error, strikes: strikes)
        if gate.pause(project, until: until, at: now) { announcePause(of: project, until: until, after: error) }
    }

    private func probeHeld(_ record: TokenRecord, with prober: any TokenProbing) async throws -> ProbeResult {
        let current = try ledger.open(record)
        let answer: SinchError? = try await slots.withSlot {
            try await fleetRate.take(record.projectID)
            // A project that throttling or a refused key paused (a probe's answer or a
            // refresh's) is not asked again until the pause ends: the probe has no answer.
            guard !gate.isPaused(record, at: ledger.clock.now) else { return Self.projectPaused }
            do throws(SinchError) {
                try await prober.probe(token: current, project: record.projectID)
                return nil
            } catch {
                pauseAfterProbe(error, project: record.projectID)
                return error
            }
        }
        let now = ledger.clock.now
        let next = probeEvery.map { now + $0 }
        guard let error = answer else {
            try await onLedger { ledger in
                try ledger.store.write { store in
                    _ = try store.recordProbe(id: record.id, owner: ledger.owner, at: now, next: next)
                    try store.releaseLease(id: record.id, owner: ledger.owner)
                }
            }
            RefreshMetrics.recordProbe("accepted")
            return .accepted
        }
        guard error.errorClass == .permanent else {
            // No verdict on the token: try again at the next interval, not at once.
            try await onLedger { ledger in
                try ledger.store.write { store in
                    if next != nil {
                        _ = try store.recordProbe(id: record.id, owner: ledger.owner, at: nil, next: next)
                    }
                    try store.releaseLease(id: record.id, owner: ledger.owner)
                }
            }
            RefreshMetrics.recordProbe("failed")
            // A probe held by its project's pause says nothing new: the pause was logged.
            guard error.code != Self.projectPaused.code else {
                return .failed(errorClass: error.errorClass.rawValue, code: error.code)
            }
            logger.warning(
                "probe failed; the token is unchanged",
                metadata: [
                    "token.id": "\(record.id)", "sinch.project": "\(record.projectID)",
                    "error.class": "\(error.errorClass.rawValue)", "error.code": "\(error.code)",
                ]
            )
            return .failed(errorClass: error.errorClass.rawValue, code: error.code)
        }
        let facts = RefreshStateMachine.Token(
            state: record.state,
            failures: record.failures,
            issuedAt: record.issuedAt,
            expiresAt: record.expiresAt
        )
        var generator = SystemRandom()
        guard
            case .commit(var decision) = machine.decide(
                facts,
                outcome: .failed(error),
                now: now,
                projectStrikes: 0,
                projectTimeouts: 0,
                using: &generator
            )
        else {
            try await onLedger { try $0.release([record.id]) }
            return .skipped
        }
        decision.note = "probe: Sinch's wabaDetails refused the token (\(error.code))"
        _ = try await onLedger { ledger in
            try ledger.store.write { try $0.recordProbe(id: record.id, owner: ledger.owner, at: now, next: nil) }
        }
        let attempt = try await finish(
            decision,
            record: record,
            now: now,
            outcome: .failed(error),
            countsAsRefresh: false
        )
        guard attempt == .needsReauth else { return .skipped }
        RefreshMetrics.recordProbe("refused")
        return .refused(code: error.code)
    }
}
