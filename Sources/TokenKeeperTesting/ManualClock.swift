import Synchronization
import TokenKeeper
import WallTime

/// A clock that moves only when a test moves it: for tokenkeeper, the Sinch client and FakeSinch.
package final class ManualClock: WallClock, Sendable {
    private let current: Mutex<Double>

    package init(_ start: UnixTime = UnixTime(seconds: 1_795_000_000)) {
        current = Mutex(Double(start.seconds))
    }

    package var secondsSince1970: Double { current.withLock { $0 } }

    package func advance(by duration: Duration) {
        current.withLock { $0 += duration.timeInterval }
    }

    package func set(_ time: UnixTime) {
        current.withLock { $0 = Double(time.seconds) }
    }

    /// Sets the clock to a time between whole seconds.
    package func set(secondsSince1970 time: Double) {
        current.withLock { $0 = time }
    }
}
