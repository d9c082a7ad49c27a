/// What one pass of refreshes did (`run-once --json`, `refresh --json`).
package struct RefreshSummary: Sendable, Equatable, Encodable {
    package var due = 0
    package var refreshed = 0
    /// Answered with the token that was sent: not extended, expiry kept (see
    /// `RefreshStateMachine.notExtended(_:now:)`).
    package var notExtended = 0
    package var failed = 0
    package var needsReauth = 0
    package var skipped = 0

    package init() {}

    /// Whether any token was refreshed or ended in a failure: false when every due one was
    /// skipped (held by another process, paused), which must not make a caller loop at once.
    /// The outcomes written (each with its audit row): everything but the skipped.
    package var committed: Int { refreshed + notExtended + failed + needsReauth }

    var madeProgress: Bool { committed > 0 }

    mutating func add(_ other: RefreshSummary) {
        due += other.due
        refreshed += other.refreshed
        notExtended += other.notExtended
        failed += other.failed
        needsReauth += other.needsReauth
        skipped += other.skipped
    }

    enum CodingKeys: String, CodingKey {
        case due, refreshed, failed, skipped
        case needsReauth = "needs_reauth"
        case notExtended = "not_extended"
    }
}

extension TextOutput {
    /// `run-once` and `refresh` without `--json`.
    package static func refreshSummary(_ summary: RefreshSummary) -> String {
        "due \(summary.due), refreshed \(summary.refreshed), failed \(summary.failed), "
            + "needs_reauth \(summary.needsReauth), skipped \(summary.skipped), not_extended \(summary.notExtended)"
    }
}

/// A pass of refreshes that an error stopped (the database failing, say): what it did before,
/// so the caller can print the summary and say what was committed, and the error itself.
package struct RefreshInterrupted: Error, CustomStringConvertible {
    package var summary: RefreshSummary
    package var error: any Error

    package init(summary: RefreshSummary, error: any Error) {
        self.summary = summary
        self.error = error
    }

    package var description: String { "\(error)" }

    /// The error as one for the operator: its code, and its message followed by what the pass
    /// committed before it.
    package var report: TokenKeeperError {
        let base = error as? TokenKeeperError ?? TokenKeeperError(.database, "\(error)")
        return TokenKeeperError(
            base.code,
            "\(base.message); this run committed \(summary.committed) outcomes before it (\(summary.refreshed) refreshed, "
                + "\(summary.failed) failed, \(summary.needsReauth) needs_reauth) and stopped",
            underlying: base.underlying
        )
    }
}
