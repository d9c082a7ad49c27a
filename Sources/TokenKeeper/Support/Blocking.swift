import Dispatch
import Synchronization

/// Runs `body` on the concurrency runtime and waits for it on the calling thread.
///
/// For the CLI's synchronous commands (a synchronous `main` starts ~3 ms faster than an async
/// one) that make one Sinch call. Never call it from inside a task: it blocks a thread.
package func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    let outcome = Mutex<Result<T, any Error>?>(nil)
    Task.detached {
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        outcome.withLock { $0 = result }
        done.signal()
    }
    done.wait()
    return try outcome.withLock { $0! }.get()
}

/// Runs blocking work (a SQLite transaction) on a dispatch thread and suspends until it is done,
/// so the few threads of the cooperative pool keep resuming tasks meanwhile.
package func offCooperativePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}
