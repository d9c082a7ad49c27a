import Foundation
import PostgresNIO
import Synchronization

/// One connection of the client's pool, held by a synchronous caller for one transaction.
///
/// `PostgresClient.withConnection` lends a connection for the length of a closure; here that
/// closure runs on ``PostgresThread`` and waits (suspended, not blocking the thread) until the
/// caller lets go, while the caller sends its statements on the connection one by one.
final class PostgresConnectionLease: Sendable {
    private struct State {
        var connection: PostgresConnection?
        var failure: (any Error)?
        /// The caller gave up waiting: a connection that comes later goes straight back.
        var abandoned = false
        var released = false
        var continuation: CheckedContinuation<Void, Never>?
    }

    let connection: PostgresConnection

    private static func waitForConnection(_ box: Box, limit: Duration) throws -> PostgresConnection {
        if box.ready.wait(timeout: .now() + limit.timeInterval) == .timedOut {
            let gaveUp = box.state.withLock { state -> Bool in
                guard state.connection == nil, state.failure == nil else { return false }
                state.abandoned = true
                return true
            }
            if gaveUp { throw PostgresTimeout(limit: limit) }
        }
        let (connection, failure) = box.state.withLock { ($0.connection, $0.failure) }
        if let failure { throw failure }
        return connection!
    }

    /// What the caller and the lending task share.
    private final class Box: Sendable {
        let state = Mutex(State())
        let ready = DispatchSemaphore(value: 0)
    }

    private let box: Box

    private init(box: Box, connection: PostgresConnection) {
        self.box = box
        self.connection = connection
    }

    /// Leases a connection from `client`, waiting at most `limit` (the pool keeps trying to
    /// connect while the server is down; a caller gives up after its connect timeout).
    static func acquire(from client: PostgresClient, within limit: Duration) throws -> PostgresConnectionLease {
        let box = Box()
        let task = Task(executorPreference: PostgresThread.shared) {
            do {
                try await client.withConnection { connection in
                    let taken = box.state.withLock { state -> Bool in
                        guard !state.abandoned else { return false }
                        state.connection = connection
                        return true
                    }
                    guard taken else { return }
                    box.ready.signal()
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let releasedAlready = box.state.withLock { state -> Bool in
                            if state.released { return true }
                            state.continuation = continuation
                            return false
                        }
                        if releasedAlready { continuation.resume() }
                    }
                }
            } catch {
                let waiting = box.state.withLock { state -> Bool in
                    guard state.connection == nil else { return false }
                    state.failure = error
                    return true
                }
                if waiting { box.ready.signal() }
            }
        }
        do {
            return PostgresConnectionLease(box: box, connection: try waitForConnection(box, limit: limit))
        } catch {
            task.cancel()
            throw error
        }
    }

    /// Gives the connection back to the pool. `broken`: close it first (a statement timed out
    /// or the transaction could not be ended, so its state is unknown).
    func release(broken: Bool = false) {
        if broken { connection.close().whenComplete { _ in } }
        let continuation = box.state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.released = true
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume()
    }
}
