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
    func aWindowGrantsUpToItsLimitThenNothing(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        func take(_ wanted: Int, window: Int64 = 100, project: String = "p1") throws -> Int {
            try fixture.store.write {
                try $0.takeRateSlots(project: project, window: window, limit: 5, wanted: wanted, forgetBefore: 0)
            }
        }

        #expect(try take(3) == 3)
        #expect(try take(3) == 2)
        #expect(try take(1) == 0)
        // Another window, another project: budgets of their own.
        #expect(try take(9, window: 101) == 5)
        #expect(try take(2, project: "p2") == 2)
    }

    @Test(arguments: TestBackend.all)
    func oldWindowsAreForgotten(_ backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        for window in Int64(1)...5 {
            _ = try fixture.store.write {
                try $0.takeRateSlots(project: "p1", window: window, limit: 5, wanted: 1, forgetBefore: window - 2)
            }
        }
        #expect(
            try fixture.texts("SELECT CAST(window_start AS TEXT) FROM rate_slots ORDER BY window_start") == [
                "3", "4", "5",
            ]
        )
    }

    @Test(arguments: TestBackend.all)
    func writersAtOnceNeverShareMoreThanTheLimit(_ backend: TestBackend) async throws {
        let fixture = try StoreFixture(backend)
        let store = fixture.store
        // Eight writers, each taking one slot at a time until the window is spent.
        let granted = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await onOwnThread {
                        var mine = 0
                        while true {
                            let got = try store.write {
                                try $0.takeRateSlots(project: "p1", window: 7, limit: 20, wanted: 1, forgetBefore: 0)
                            }
                            if got == 0 { return mine }
                            mine += got
                        }
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(granted == 20)
    }

    // MARK: - A process's share

    /// The store's side as a dictionary: window to slots used, and every reservation asked.
    final class Windows: Sendable {
        let used = Mutex<[Int64: Int]>([:])
        let asked = Mutex<[Int64]>([])

        func reserve(_ window: Int64, limit: Int, wanted: Int) -> Int {
            asked.withLock { $0.append(window) }
            return used.withLock { used in
                let granted = min(wanted, limit - used[window, default: 0])
                used[window, default: 0] += granted
                return granted
            }
        }
    }

    func fleetRate(rate: Double, clock: ManualClock, windows: Windows) -> FleetRate {
        FleetRate(rate: rate, clock: clock) { _, window, limit, wanted in
            windows.reserve(window, limit: limit, wanted: wanted)
        }
    }

    @Test func slotsAreTakenATenthOfTheLimitAtATime() async throws {
        let clock = ManualClock()
        let windows = Windows()
        let rate = fleetRate(rate: 50, clock: clock, windows: windows)

        for _ in 0..<12 { _ = try await rate.slot("p1") }

        let now = Int64(clock.secondsSince1970)
        // 12 calls from chunks of 5: three reservations of the current window.
        #expect(windows.asked.withLock { $0 } == [now, now, now])
        #expect(windows.used.withLock { $0 } == [now: 15])
    }

    @Test func aWindowLateInItsCourseIsSkipped() async throws {
        let clock = ManualClock()
        clock.advance(by: .milliseconds(900))
        let windows = Windows()
        let rate = fleetRate(rate: 5, clock: clock, windows: windows)

        // The next window starts in 0.1 s (real time, as the clock does not move).
        try await rate.take("p1")

        let now = Int64(clock.secondsSince1970.rounded(.down))
        #expect(windows.asked.withLock { $0 } == [now + 1])
    }

    @Test func aSpentWindowSendsTheCallToTheNext() async throws {
        let clock = ManualClock()
        let windows = Windows()
        let now = Int64(clock.secondsSince1970)
        windows.used.withLock { $0[now] = 5 }  // other processes spent it
        let rate = fleetRate(rate: 5, clock: clock, windows: windows)

        try await rate.take("p1")

        #expect(windows.asked.withLock { $0 } == [now, now + 1])
        #expect(windows.used.withLock { $0[now + 1] } == 1)
    }

    /// A process that sends each call the moment ``FleetRate/slot(_:)`` allows, the clock moved
    /// to each call's time: the times of its calls over four windows, starting `offset` into one.
    func sendAsFastAsAllowed(
        rate perSecond: Double,
        from offset: Double,
        windows count: Int
    ) async throws -> (
        times: [Double], rate: FleetRate, start: Double
    ) {
        let clock = ManualClock()
        let start = clock.secondsSince1970
        let rate = fleetRate(rate: perSecond, clock: clock, windows: Windows())
        clock.set(secondsSince1970: start + offset)
        var times: [Double] = []
        while true {
            let time = try await rate.slot("p1")
            guard time < start + Double(count) * rate.window else { break }
            #expect(time >= clock.secondsSince1970 - 1e-6, "a call is never sent in the past")
            clock.set(secondsSince1970: time)
            times.append(time)
        }
        return (times, rate, start)
    }

    /// Busy, a process sends a window's whole limit in each window, every call before the
    /// window's late part, and no stretch of a window's length (a sliding window) holds more
    /// than the limit: spaced at 1/rate instead, the calls in a window's late part waited for the
    /// next one, and a busy project got four fifths of its rate.
    @Test(arguments: [(0.2, 0.0), (1, 0.0), (2.5, 0.3), (5, 0.0), (5, 0.5), (200, 0.0), (200, 0.71)])
    func aBusyProcessSendsEachWindowsLimitAndNeverMoreInAnyStretch(
        _ perSecond: Double,
        _ offset: Double
    )
        async throws
    {
        let (times, rate, start) = try await sendAsFastAsAllowed(rate: perSecond, from: offset, windows: 4)
        for window in 0..<4 {
            let from = start + Double(window) * rate.window
            let inside = times.filter { $0 >= from && $0 < from + rate.window }
            #expect(inside.allSatisfy { $0 - from <= rate.window * FleetRate.lateness }, "window \(window)")
            // The first window may have started before the process did.
            if window > 0 { #expect(inside.count == rate.limit, "window \(window)") }
        }
        for time in times {
            let stretch = times.filter { $0 >= time && $0 < time + rate.window }
            #expect(stretch.count <= rate.limit, "from \(time - start)")
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
