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
    /// What this process holds, per project.
    private let held = Mutex<[String: Held]>([:])

    private struct Held {
        /// The window of the slots below.
        var window: Int64
        /// Slots reserved in `window` and not yet spent.
        var left: Int
        /// The first of the window's places (``FleetRate/pace`` apart) this process has not used.
        var turn: Int
    }

    /// The part of a window after which no call of it is sent (its places end before).
    static let lateness = 0.8

    /// The time between two of the places a window has for this process's calls to a project:
    /// `limit` places, from the window's start to before its late part. Spaced at 1/rate, the
    /// calls that fell in a window's late part waited for the next, and a busy project got four
    /// fifths of its rate (164 requests a second at a rate of 200, measured).
    let pace: Double

    init(rate: Double, clock: any WallClock, reserve: @escaping Reserve) {
        // Below one call a second a window holds one call: 0.2/s is one call per 5 s.
        window = rate >= 1 ? 1 : (1 / rate).rounded(.up)
        // A rate too high to count (an unlimited bench) is a billion a window.
        limit = max(1, Int(min(rate * window, 1e9).rounded(.down)))
        chunk = max(1, limit / 10)
        pace = window * Self.lateness / Double(limit)
        self.clock = clock
        self.reserve = reserve
    }

    /// Waits until this process may send a call to `project`: it holds a slot of a window, and
    /// the call's place in that window has come. Every window has the same `limit` places, `pace`
    /// apart from its start, and a call takes the first place not in the past that this process
    /// has not used; so any stretch of one window's length holds at most `limit` of its calls,
    /// whether Sinch counts in fixed windows or in a sliding one.
    func take(_ project: String) async throws {
        let sendAt = try await slot(project)
        let wait = sendAt - clock.secondsSince1970
        if wait > 0 { try await Task.sleep(for: .seconds(wait)) }
    }

    /// Takes a slot for `project` and says when (wall-clock seconds) its call may go.
    func slot(_ project: String) async throws -> Double {
        var window = Int64((clock.secondsSince1970 / self.window).rounded(.down))
        while true {
            switch held.withLock({ spendHeld(&$0, project, in: window) }) {
            case .sendAt(let time): return time
            case .late:
                // No place left in this window: the next, before reserving here (slots
                // reserved and not spent are lost to the fleet).
                window += 1
                continue
            case .noSlot: break
            }
            let granted = try await reserve(project, window, limit, chunk)
            guard granted > 0 else {
                // The fleet spent this window: try the next.
                window += 1
                continue
            }
            held.withLock { held in
                var slots = held[project] ?? Held(window: window, left: 0, turn: 0)
                // Slots still held for another window are dropped: lost to the fleet.
                if slots.window != window { slots = Held(window: window, left: 0, turn: 0) }
                slots.left += granted
                held[project] = slots
            }
        }
    }

    private enum Spent {
        case sendAt(Double)
        case late
        case noSlot
    }

    /// Spends a held slot of `window` for `project`, if the window still has a place for its call:
    /// the call's time.
    private func spendHeld(_ held: inout [String: Held], _ project: String, in window: Int64) -> Spent {
        let start = Double(window) * self.window
        let elapsed = clock.secondsSince1970 - start
        let due = elapsed > 0 ? Int((elapsed / pace).rounded(.up)) : 0
        guard var slots = held[project], slots.window == window else {
            return due < limit ? .noSlot : .late
        }
        let turn = max(slots.turn, due)
        // The window's places are all used or past.
        guard turn < limit else { return .late }
        guard slots.left > 0 else { return .noSlot }
        slots.left -= 1
        slots.turn = turn + 1
        held[project] = slots
        return .sendAt(start + Double(turn) * pace)
    }
}
