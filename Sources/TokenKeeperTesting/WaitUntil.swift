import Foundation

/// Waits until `condition` holds, asking every 20 ms; throws when `limit` passes first. For what a
/// test cannot drive with the manual clock: another process's progress, a server starting.
package func waitUntil(
    _ what: @autoclosure () -> String = "the condition",
    within limit: Duration = .seconds(120),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw WaitTimedOut(description: "\(what()) within \(limit)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// ``waitUntil(_:within:_:)`` ran out of time.
package struct WaitTimedOut: Error, CustomStringConvertible {
    package var description: String
}

extension Process {
    /// Waits up to `limit` for the process to end (a hang guard, not a timer); whether it did.
    package func exited(within limit: Duration = .seconds(120)) async throws -> Bool {
        do {
            try await waitUntil("the process to end", within: limit) { !isRunning }
            return true
        } catch is WaitTimedOut {
            return false
        }
    }
}
