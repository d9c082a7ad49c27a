import Synchronization

/// One run of the server, from `start` to `stop`: tells slow faults when to give up.
final class ServerRun: Sendable {
    private let stopping = Atomic<Bool>(false)

    var isStopping: Bool { stopping.load(ordering: .relaxed) }

    func stop() {
        stopping.store(true, ordering: .relaxed)
    }

    /// Waits `duration` in short steps, returning early once the server stops, the task is
    /// cancelled, or `condition` turns false.
    func pause(for duration: Duration, while condition: () -> Bool = { true }) async {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: duration)
        while !isStopping, condition() {
            let now = clock.now
            guard now < deadline else { return }
            let step = min(deadline, now.advanced(by: .milliseconds(20)))
            do {
                try await clock.sleep(until: step)
            } catch {
                return
            }
        }
    }
}
