import WallTime

extension WallClock {
    /// Now in whole seconds, the unit every stored time uses.
    package var now: UnixTime { UnixTime(seconds: Int64(secondsSince1970.rounded(.down))) }
}
