import Foundation

/// Runs `work`, which blocks (waits for a child process), on a thread of its own and returns what
/// it returns: never on one of the few cooperative threads that in-process FakeSinch servers and
/// every other async test need.
package func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
    }
}
