import Foundation
import GRDB
import Synchronization
import Testing
import TokenKeeperTesting

@testable import TokenKeeper

/// One rate limit per project for every process on a store: the store's rate windows, and how
/// a process spends the slots it takes (<doc:Architecture#One-rate-limit-for-the-fleet>).
@Suite struct FleetRateTests {
    // MARK: - The store's windows

    @Test(arguments: TestBackend.all)
    func aWindowGivesEachPlaceOnceFromTheFirstNotPast(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        func take(_ wanted: Int, from: Int = 0, window: Int64 = 100, project: String = "p1") throws -> Range<Int> {
            try fixture.store.write {
                try $0.takeRatePlaces(
                    project: project,
                    window: window,
                    limit: 8,
                    wanted: wanted,
                    from: from,
                    keeping: 0...1_000
                )
            }
        }

        #expect(try take(3) == 0..<3)
        // Places 3 and 4 are past: never given.
        #expect(try take(2, from: 5) == 5..<7)
        #expect(try take(2, from: 1) == 7..<8)
        #expect(try take(1).isEmpty)
        // Another window, another project: places of their own.
        #expect(try take(9, window: 101) == 0..<8)
        #expect(try take(2, from: 6, project: "p2") == 6..<8)
    }

    @Test(arguments: TestBackend.all)
    func windowsOutsideTheKeptRangeAreForgotten(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        for window in Int64(1)...5 {
            _ = try fixture.store.write {
                try $0.takeRatePlaces(
                    project: "p1",
                    window: window,
                    limit: 5,
                    wanted: 1,
                    from: 0,
                    keeping: (window - 2)...(window + 2)
                )
            }
        }
        // A window far ahead (a clock that was wrong) goes too.
        _ = try fixture.store.write {
            try $0.takeRatePlaces(project: "p1", window: 9, limit: 5, wanted: 1, from: 0, keeping: 0...9)
        }
        _ = try fixture.store.write {
            try $0.takeRatePlaces(project: "p1", window: 5, limit: 5, wanted: 1, from: 0, keeping: 3...7)
        }
        #expect(
            try fixture.texts("SELECT CAST(window_start AS TEXT) FROM rate_slots ORDER BY window_start") == [
                "3", "4", "5",
            ]
        )
    }

    @Test(arguments: TestBackend.all)
    func writersAtOnceNeverShareAPlace(_ backend: TestBackend) async throws {
        let fixture = try StoreFixture(backend)
        let store = fixture.store
        // Eight writers, each taking one place at a time until the window is spent.
        let places = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await onOwnThread {
                        var mine: [Int] = []
                        while true {
                            let got = try store.write {
                                try $0.takeRatePlaces(
                                    project: "p1",
                                    window: 7,
                                    limit: 20,
                                    wanted: 1,
                                    from: 0,
                                    keeping: 0...10
                                )
                            }
                            if got.isEmpty { return mine }
                            mine += Array(got)
                        }
                    }
                }
            }
            return try await group.reduce([], +)
        }
        #expect(places.sorted() == Array(0..<20))
    }

    // MARK: - A process's share

    /// The store's side as a dictionary: window to the next place it gives, and every
    /// reservation asked (window, first place asked for).
    final class Windows: Sendable {
        let used = Mutex<[Int64: Int]>([:])
        let asked = Mutex<[Int64]>([])

        func reserve(_ window: Int64, limit: Int, wanted: Int, from: Int) -> Range<Int> {
            asked.withLock { $0.append(window) }
            return used.withLock { used in
                let first = max(used[window, default: 0], from)
                let end = min(first + wanted, limit)
                used[window] = max(end, used[window, default: 0])
                return first < end ? first..<end : end..<end
            }
        }
    }

    func fleetRate(rate: Double, clock: ManualClock, windows: Windows) -> FleetRate {
        FleetRate(rate: rate, clock: clock) { _, window, limit, wanted, from in
            windows.reserve(window, limit: limit, wanted: wanted, from: from)
        }
    }

    @Test func placesAreTakenATenthOfTheLimitAtATime() async throws {
        let clock = ManualClock()
        let windows = Windows()
        let rate = fleetRate(rate: 50, clock: clock, windows: windows)
        let window = rate.window(at: clock.secondsSince1970)
        clock.set(secondsSince1970: window.start)

        for _ in 0..<12 { _ = try await rate.slot("p1") }

        // 12 calls from chunks of 5: three reservations of the current window.
        #expect(windows.asked.withLock { $0 } == [window.index, window.index, window.index])
        #expect(windows.used.withLock { $0 } == [window.index: 15])
    }

    @Test func aWindowLateInItsCourseIsSkipped() async throws {
        let clock = ManualClock()
        let windows = Windows()
        let rate = fleetRate(rate: 5, clock: clock, windows: windows)
        let window = rate.window(at: clock.secondsSince1970)
        // Past its last place: 0.9 of a period in.
        clock.set(secondsSince1970: window.start + rate.period * 0.9)

        let time = try await rate.slot("p1")

        #expect(windows.asked.withLock { $0 } == [window.index + 1])
        #expect(time == window.start + rate.period)
    }

    @Test func aSpentWindowSendsTheCallToTheNext() async throws {
        let clock = ManualClock()
        let windows = Windows()
        let rate = fleetRate(rate: 5, clock: clock, windows: windows)
        let window = rate.window(at: clock.secondsSince1970)
        clock.set(secondsSince1970: window.start)
        windows.used.withLock { $0[window.index] = 5 }  // other processes took every place

        let time = try await rate.slot("p1")

        #expect(windows.asked.withLock { $0 } == [window.index, window.index + 1])
        #expect(time == window.start + rate.period)
    }

    /// Places a process holds whose time is past by more than the tolerance are given up, not
    /// sent late: a call sent late would crowd the next window's calls at the same place.
    @Test func aPlaceTooFarPastIsGivenUpNotSentLate() async throws {
        let clock = ManualClock()
        let windows = Windows()
        let rate = fleetRate(rate: 20, clock: clock, windows: windows)
        let window = rate.window(at: clock.secondsSince1970)
        clock.set(secondsSince1970: window.start)
        _ = try await rate.slot("p1")  // place 0; holds place 1 now
        clock.set(secondsSince1970: window.start + 2 * rate.pace + rate.tolerance * 1.5)

        let time = try await rate.slot("p1")

        #expect(time >= clock.secondsSince1970 - rate.tolerance)
        #expect(time == window.start + 3 * rate.pace)
    }

    /// Processes sharing one store (one `Windows`), each sending the moment its next place
    /// allows (the shared clock moved to each call's time, real time played by sorting): the
    /// times of every call over `count` windows, from `offset` into one, a call late by up to
    /// `lateness` of the tolerance.
    func sendAsFastAsAllowed(
        rate perSecond: Double,
        processes: Int,
        from offset: Double,
        windows count: Int,
        lateness: Double = 0
    ) async throws -> (times: [Double], rate: FleetRate, start: Double) {
        let clock = ManualClock()
        let windows = Windows()
        let rates = (0..<processes).map { _ in fleetRate(rate: perSecond, clock: clock, windows: windows) }
        let rate = rates[0]
        let start = rate.window(at: clock.secondsSince1970).start
        clock.set(secondsSince1970: start + offset)
        // Each process's next call time; the earliest goes first.
        var next = try await rates.asyncMap { try await $0.slot("p1") }
        var times: [Double] = []
        while let (index, time) = next.enumerated().min(by: { $0.element < $1.element }).map({ ($0.offset, $0.element) }
        ),
            time < start + Double(count) * rate.period
        {
            #expect(time >= clock.secondsSince1970 - rate.tolerance - 1e-6, "a call is never sent too late")
            let sent = time + rate.tolerance * lateness * Double(times.count % 3) / 2
            clock.set(secondsSince1970: max(sent, clock.secondsSince1970))
            times.append(sent)
            next[index] = try await rates[index].slot("p1")
        }
        return (times.sorted(), rate, start)
    }

    /// Busy, one or three processes together send a window's whole limit in each window, every
    /// call before the window's late part, and no one-second stretch holds more than the rate,
    /// even with calls sent late within the tolerance (three run-once at rate 5 once put 7 calls
    /// into one second: they took the same places).
    @Test(
        arguments: [
            (0.2, 1, 0.0), (1, 1, 0.0), (2.5, 1, 0.3), (5, 1, 0.0), (5, 3, 0.0), (5, 3, 0.5), (200, 1, 0.0),
            (200, 3, 0.71),
        ]
    )
    func busyProcessesSendEachWindowsLimitAndNeverMoreInAnySecond(
        _ perSecond: Double,
        _ processes: Int,
        _ offset: Double
    ) async throws {
        for lateness in [0.0, 1.0] {
            let (times, rate, start) = try await sendAsFastAsAllowed(
                rate: perSecond,
                processes: processes,
                from: offset,
                windows: 4,
                lateness: lateness
            )
            for window in 0..<4 {
                let from = start + Double(window) * rate.period
                let inside = times.filter { $0 >= from && $0 < from + rate.period }
                #expect(
                    inside.allSatisfy { $0 - from <= rate.period * FleetRate.lateness + rate.tolerance },
                    "window \(window)"
                )
                // The first window may have started before the processes did.
                if window > 0 { #expect(inside.count == rate.limit, "window \(window)") }
            }
            for time in times {
                let second = times.filter { $0 >= time && $0 < time + rate.window }
                #expect(second.count <= rate.limit, "from \(time - start), late \(lateness)")
            }
        }
    }

    @Test func aRateTooHighToCountIsABillionAWindow() {
        let rate = fleetRate(rate: 1e300, clock: ManualClock(), windows: Windows())
        #expect(rate.limit == 1_000_000_000)
    }

    @Test func belowOneCallASecondAWindowHoldsOneCall() {
        let rate = fleetRate(rate: 0.2, clock: ManualClock(), windows: Windows())
        #expect(rate.window == 5)
        #expect(rate.limit == 1)
    }
}

extension Array {
    /// The elements mapped in order, one after the other.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var mapped: [T] = []
        for element in self { mapped.append(try await transform(element)) }
        return mapped
    }
}

extension StoreFixture {
    /// The first column (text) of `sql`'s rows, read under the seam.
    func texts(_ sql: String) throws -> [String] {
        switch backend {
        case .sqlite:
            return try sqlite.database { db in try String.fetchAll(db, sql: sql) }
        case .postgres:
            return try TestPostgres.sql(location, sql).split(separator: "\n").map(String.init)
        }
    }
}
