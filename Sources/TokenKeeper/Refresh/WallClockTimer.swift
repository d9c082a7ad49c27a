import Dispatch
import Foundation
import Synchronization
import WallTime

/// One `DispatchSourceTimer` on a serial queue, armed at wall-clock deadlines
/// (`DispatchWallTime`), so a suspended machine or a clock jump does not delay a refresh the way a
/// monotonic sleep would.
///
/// The event handler is built here, in nonisolated code: a closure formed in a main-actor context
/// would inherit `@MainActor` and trap when the timer fires on its queue.
final class WallClockTimer: Sendable {
    /// Dispatch sources are thread-safe; the type just does not say so.
    private struct Source: @unchecked Sendable {
        let timer: any DispatchSourceTimer
    }

    private struct Armed {
        var source: Source?
        var continuation: CheckedContinuation<Void, Never>?
        /// A wake that found no sleeper: the next sleep returns at once.
        var pendingWake = false
    }

    private let queue = DispatchQueue(label: "tokenkeeper.scheduler")
    private let armed = Mutex(Armed())

    /// Suspends until `deadline`, ``wake()`` or cancellation, whichever comes first.
    func sleep(until deadline: UnixTime) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                arm(deadline, continuation)
            }
        } onCancel: {
            wake()
        }
    }

    /// Ends the current sleep now.
    func wake() {
        let taken = armed.withLock { armed -> Armed in
            defer { armed = Armed(pendingWake: armed.continuation == nil) }
            return armed
        }
        taken.source?.timer.cancel()
        taken.continuation?.resume()
    }

    private func arm(_ deadline: UnixTime, _ continuation: CheckedContinuation<Void, Never>) {
        let source = DispatchSource.makeTimerSource(queue: queue)
        source.schedule(wallDeadline: DispatchWallTime(timespec: timespec(tv_sec: Int(deadline.seconds), tv_nsec: 0)))
        source.setEventHandler { [weak self] in self?.wake() }
        let cancelled = armed.withLock { armed -> Bool in
            // Checked under the lock `wake` takes: a cancellation cannot slip in between.
            if Task.isCancelled || armed.pendingWake {
                armed.pendingWake = false
                return true
            }
            armed = Armed(source: Source(timer: source), continuation: continuation)
            return false
        }
        if cancelled {
            // A source is created inactive, and libdispatch traps on releasing one never resumed
            // (SIGILL): a SIGTERM between two passes killed the daemon here. Cancelled first, so
            // resuming it fires nothing.
            source.cancel()
            source.resume()
            continuation.resume()
        } else {
            source.resume()
        }
    }
}
