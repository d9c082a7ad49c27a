import Synchronization
import TokenKeeper

/// A clock that moves only when a test moves it.
package final class ManualClock: WallClock, Sendable {
    private let current: Mutex<UnixTime>

    package init(_ start: UnixTime = UnixTime(seconds: 1_795_000_000)) {
        current = Mutex(start)
    }

    package var now: UnixTime { current.withLock { $0 } }

    package func advance(by duration: Duration) {
        current.withLock { $0 = $0 + duration }
    }

    package func set(_ time: UnixTime) {
        current.withLock { $0 = time }
    }
}
