import Synchronization
import TokenKeeper

/// A clock that moves only when a test moves it.
public final class ManualClock: WallClock, Sendable {
    private let current: Mutex<UnixTime>

    public init(_ start: UnixTime = UnixTime(seconds: 1_795_000_000)) {
        current = Mutex(start)
    }

    public var now: UnixTime { current.withLock { $0 } }

    public func advance(by duration: Duration) {
        current.withLock { $0 = $0 + duration }
    }

    public func set(_ time: UnixTime) {
        current.withLock { $0 = time }
    }
}
