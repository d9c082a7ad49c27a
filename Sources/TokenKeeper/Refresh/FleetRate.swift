import Synchronization
import WallTime

/// `limits.rate` for every process sharing a store: calls to a project are counted in the store
/// per window of wall-clock time (one second at a rate of 1/s or more), and a call goes only
/// with a slot of its window (<doc:Architecture#One-rate-limit-for-the-fleet>).
///
/// A process reserves a few slots at a time (a tenth of the window's limit) and spends them
/// locally, so the store sees one short write per few calls. Slots a process reserved and did
/// not spend are lost to the others: the fleet may send fewer than the limit, never more. A
/// window late in its course is skipped: a request sent just before the window ends could reach
/// Sinch in the next one and be counted there.
final class FleetRate: Sendable {
    /// Takes up to `wanted` slots of `window` for `project` in the store; how many it got.
    typealias Reserve = @Sendable (_ project: String, _ window: Int64, _ limit: Int, _ wanted: Int) async throws -> Int

    /// Seconds per window.
    let window: Double
    /// Calls per project per window.
    let limit: Int
    private let chunk: Int
    private let clock: any WallClock
    private let reserve: Reserve
    /// What this process holds: per project, the window and the slots left in it.
    private let held = Mutex<[String: (window: Int64, left: Int)]>([:])

    /// The part of a window after which its slots are no longer taken.
    static let lateness = 0.8

    /// The spacing of one process's calls to a project (``ProjectGate``): a window's limit spread
    /// over the part of it whose slots are taken. Spaced at 1/rate, the calls that fall in a
    /// window's late part would wait for the next window, and a busy project would get four
    /// fifths of its rate (164 requests a second at a rate of 200, measured).
    var pace: Duration { .seconds(window * Self.lateness / Double(limit)) }

    init(rate: Double, clock: any WallClock, reserve: @escaping Reserve) {
        // Below one call a second a window holds one call: 0.2/s is one call per 5 s.
        window = rate >= 1 ? 1 : (1 / rate).rounded(.up)
        // A rate too high to count (an unlimited bench) is a billion a window.
        limit = max(1, Int(min(rate * window, 1e9).rounded(.down)))
        chunk = max(1, limit / 10)
        self.clock = clock
        self.reserve = reserve
    }

    /// Waits until this process holds a slot for `project` in the current window, and takes it.
    func take(_ project: String) async throws {
        var window = Int64((clock.secondsSince1970 / self.window).rounded(.down))
        while true {
            if isLate(in: window) { window += 1 }
            if spendHeld(project, in: window) {
                try await sleep(untilStartOf: window)
                return
            }
            let granted = try await reserve(project, window, limit, chunk)
            if granted > 0 {
                held.withLock { $0[project] = (window, granted - 1) }
                try await sleep(untilStartOf: window)
                return
            }
            // The fleet spent this window: try the next.
            window += 1
        }
    }

    private func spendHeld(_ project: String, in window: Int64) -> Bool {
        held.withLock { held in
            guard let slots = held[project], slots.window == window, slots.left > 0 else { return false }
            held[project] = (window, slots.left - 1)
            return true
        }
    }

    private func isLate(in window: Int64) -> Bool {
        clock.secondsSince1970 - Double(window) * self.window > self.window * Self.lateness
    }

    /// A window still to come is waited for (the wall clock's distance to it, slept in real time).
    private func sleep(untilStartOf window: Int64) async throws {
        let wait = Double(window) * self.window - clock.secondsSince1970
        if wait > 0 { try await Task.sleep(for: .seconds(wait)) }
    }
}
