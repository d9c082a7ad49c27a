import Dispatch
import Synchronization

/// Commits refresh outcomes in groups: the first outcome to arrive starts a writer, which writes
/// it and every one that queued up meanwhile in one transaction, then the next group, until none
/// is left.
///
/// Alone, an outcome commits at once, with no added wait; under load (many refreshes in flight)
/// a group shares one transaction and one WAL write instead of paying for each. The writer runs
/// on a queue of its own, so no thread of the small cooperative pool (which also resumes every
/// finished HTTP call) ever waits on SQLite.
final class GroupCommitter: Sendable {
    private struct Waiting {
        var outcome: RefreshLedger.Outcome
        var continuation: CheckedContinuation<Bool, any Error>
    }

    private struct Queue {
        var waiting: [Waiting] = []
        var writing = false
    }

    private let ledger: RefreshLedger
    private let queue = Mutex(Queue())
    private let writer = DispatchQueue(label: "tokenkeeper.commits")

    init(ledger: RefreshLedger) {
        self.ledger = ledger
    }

    /// Writes `outcome` with its audit row; false when the lease was lost (see
    /// ``RefreshLedger/commit(_:)``).
    func commit(_ outcome: RefreshLedger.Outcome) async throws -> Bool {
        try await withCheckedThrowingContinuation { continuation in
            let leads = queue.withLock { queue -> Bool in
                queue.waiting.append(Waiting(outcome: outcome, continuation: continuation))
                guard !queue.writing else { return false }
                queue.writing = true
                return true
            }
            if leads { writer.async { self.writeGroups() } }
        }
    }

    private func writeGroups() {
        while true {
            let group = queue.withLock { queue -> [Waiting] in
                defer { queue.waiting.removeAll(keepingCapacity: true) }
                if queue.waiting.isEmpty { queue.writing = false }
                return queue.waiting
            }
            guard !group.isEmpty else { return }
            do {
                let written = try ledger.commit(group.map(\.outcome))
                for (waiting, result) in zip(group, written) { waiting.continuation.resume(returning: result) }
            } catch {
                for waiting in group { waiting.continuation.resume(throwing: error) }
            }
        }
    }
}
