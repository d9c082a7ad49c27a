import Synchronization
import WallTime

/// `limits.rate` for every process sharing a store, in any one-second stretch
/// (<doc:Architecture#One-rate-limit-for-the-fleet>).
///
/// Time is cut into windows of ``period`` seconds, each with ``limit`` places for calls to a
/// project, ``pace`` apart over the window's first four fifths. The store hands out places: a
/// place goes to one call of one process only, and a process reserves a few at a time (a tenth
/// of the limit), from the first that is not past, so the store sees one short write per few
/// calls. A call goes at its place's time, or not at all when it would be later than that by
/// more than ``tolerance`` (the place is then given up, and the next one taken).
///
/// Why that holds in every one-second stretch, whether Sinch counts calendar seconds or a
/// sliding second: a place recurs once a window, ``period`` apart, and a period is longer than a
/// second by the tolerance; so a stretch of one second plus the tolerance, in which every call
/// that a one-second stretch can see was placed, meets each place at most once. The price: a
/// busy project gets `limit` calls per period, 1/1.05 of its rate. Places reserved and not used
/// are lost to the others: the fleet may send fewer than the limit, never more.
final class FleetRate: Sendable {
    /// Takes up to `wanted` places of `window` for `project` in the store, from place `from` on;
    /// the places it got.
    typealias Reserve =
        @Sendable (_ project: String, _ window: Int64, _ limit: Int, _ wanted: Int, _ from: Int) async throws -> Range<
            Int
        >

    /// Seconds of the rate's unit: one, or at rates below one a second, as many as hold one call.
    let window: Double
    /// Seconds from one window's start to the next: a little longer than ``window``.
    let period: Double
    /// Calls per project per window.
    let limit: Int
    /// The time between two of a window's places.
    let pace: Double
    /// How late a call may go after its place's time.
    let tolerance: Double
    private let chunk: Int
    private let clock: any WallClock
    private let reserve: Reserve
    /// What this process holds, per project.
    private let held = Mutex<[String: Held]>([:])

    private struct Held {
        /// The window of the places below.
        var window: Int64
        /// Places reserved in `window` and not yet used, in order.
        var places: Range<Int>
    }

    /// The part of a window after which no call of it is sent (its places end before).
    static let lateness = 0.8
    /// How much longer than the rate's unit a window lasts: the tolerance a late call has.
    static let margin = 0.05

    init(rate: Double, clock: any WallClock, reserve: @escaping Reserve) {
        // Below one call a second a window holds one call: 0.2/s is one call per 5 s.
        window = rate >= 1 ? 1 : (1 / rate).rounded(.up)
        period = window * (1 + Self.margin)
        tolerance = window * Self.margin
        // A rate too high to count (an unlimited bench) is a billion a window.
        limit = max(1, Int(min(rate * window, 1e9).rounded(.down)))
        chunk = max(1, limit / 10)
        pace = period * Self.lateness / Double(limit)
        self.clock = clock
        self.reserve = reserve
    }

    /// The window that holds `time` and its start.
    func window(at time: Double) -> (index: Int64, start: Double) {
        let index = Int64((time / period).rounded(.down))
        return (index, Double(index) * period)
    }

    /// Waits until this process may send a call to `project`: it holds a place whose time has
    /// come.
    func take(_ project: String) async throws {
        let sendAt = try await slot(project)
        let wait = sendAt - clock.secondsSince1970
        if wait > 0 { try await Task.sleep(for: .seconds(wait)) }
    }

    /// Takes a place for `project` and says when (wall-clock seconds) its call may go.
    func slot(_ project: String) async throws -> Double {
        var window = window(at: clock.secondsSince1970).index
        while true {
            let start = Double(window) * period
            if let time = held.withLock({ spendHeld(&$0, project, in: window, start: start) }) { return time }
            // The first place that is not past (a call at it would not be too late).
            let elapsed = clock.secondsSince1970 - tolerance - start
            let first = elapsed > 0 ? Int((elapsed / pace).rounded(.up)) : 0
            guard first < limit else {
                window += 1
                continue
            }
            let granted = try await reserve(project, window, limit, chunk, first)
            guard !granted.isEmpty else {
                // The fleet spent this window: try the next.
                window += 1
                continue
            }
            // Places still held for another window are dropped: lost to the fleet.
            held.withLock { $0[project] = Held(window: window, places: granted) }
        }
    }

    /// Uses the first place held for `project` in `window` whose call would not be too late,
    /// giving up those that would: the call's time, or nil when none is held.
    private func spendHeld(_ held: inout [String: Held], _ project: String, in window: Int64, start: Double) -> Double?
    {
        guard var slots = held[project], slots.window == window else { return nil }
        let now = clock.secondsSince1970
        defer { held[project] = slots }
        while let place = slots.places.first {
            slots.places = slots.places.dropFirst()
            let time = start + Double(place) * pace
            if now <= time + tolerance { return time }
        }
        return nil
    }
}
