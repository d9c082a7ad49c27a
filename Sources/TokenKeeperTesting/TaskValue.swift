import Synchronization

/// `task`'s value, or ``WaitTimedOut`` when it has not ended within `limit`: a test that waits for
/// a task to end fails instead of hanging the run when it never does (awaiting `task.value` cannot
/// be cancelled).
public func value<Success: Sendable, Failure: Error>(
    of task: Task<Success, Failure>,
    within limit: Duration = .seconds(120)
) async throws -> Success {
    let outcome: Result<Success, any Error> = await withCheckedContinuation { continuation in
        let once = Once()
        // Whichever ends first resumes; the other is left to end (or not) on its own.
        let resume: @Sendable (Result<Success, any Error>) -> Void = { result in
            guard once.first() else { return }
            continuation.resume(returning: result)
        }
        Task { resume(await task.result.mapError { $0 }) }
        Task {
            try? await Task.sleep(for: limit)
            resume(.failure(WaitTimedOut(description: "the task to end within \(limit)")))
        }
    }
    return try outcome.get()
}

private final class Once: Sendable {
    private let taken = Atomic(false)

    /// True the first time only.
    func first() -> Bool { !taken.exchange(true, ordering: .acquiringAndReleasing) }
}
