import Foundation
import Synchronization
import Testing
import TokenKeeperTesting
import WallTime

@testable import TokenKeeper

/// The wall-clock timer in process, with no real waiting: a past deadline ends a sleep at once,
/// and a wake or a cancellation ends one early, or the next one when it comes first.
///
/// Sleepers start with `Task.immediate`, which runs up to the first suspension before it
/// returns: once started, a sleeper has armed the timer (or returned).
///
/// A sleep that a wake or a cancellation ended before it began once crashed the process: it
/// released the dispatch source it had made and never resumed (libdispatch traps on that).
@Suite struct WallClockTimerTests {
    /// Far enough ahead that only a wake or a cancellation ends a sleep.
    static let farFuture = UnixTime(Date()) + .seconds(30 * 86_400)

    /// Records that a sleep returned.
    final class Returned: Sendable {
        private let flag = Atomic(false)

        var value: Bool { flag.load(ordering: .acquiring) }

        func set() { flag.store(true, ordering: .releasing) }
    }

    @Test func aDeadlineInThePastEndsTheSleepAtOnce() async throws {
        let timer = WallClockTimer()
        let sleeper = Task { await timer.sleep(until: UnixTime(Date()) - .seconds(60)) }
        try await value(of: sleeper, within: .seconds(120))
        // Now, rounded down to the second as every deadline is, has already begun: it is past too.
        let justNow = Task { await timer.sleep(until: UnixTime(Date())) }
        try await value(of: justNow, within: .seconds(120))
    }

    @available(macOS 26, *)
    @Test func wakeEndsASleepEarly() async throws {
        let timer = WallClockTimer()
        let returned = Returned()
        let sleeper = Task.immediate {
            await timer.sleep(until: Self.farFuture)
            returned.set()
        }
        #expect(!returned.value, "a sleep until next month returned before anything woke it")
        timer.wake()
        try await value(of: sleeper, within: .seconds(120))
        #expect(returned.value)
    }

    /// A wake that comes while nothing sleeps (the loop is between passes) is not lost: the next
    /// sleep returns at once; the one after it sleeps again.
    @available(macOS 26, *)
    @Test
    func aWakeWithNoSleeperEndsOnlyTheNextSleep() async throws {
        let timer = WallClockTimer()
        timer.wake()
        let next = Task.immediate { await timer.sleep(until: Self.farFuture) }
        try await value(of: next, within: .seconds(120))

        let returned = Returned()
        let after = Task.immediate {
            await timer.sleep(until: Self.farFuture)
            returned.set()
        }
        #expect(!returned.value, "one wake ended two sleeps")
        timer.wake()
        try await value(of: after, within: .seconds(120))
    }

    @available(macOS 26, *)
    @Test func cancellingTheSleepingTaskEndsTheSleep() async throws {
        let timer = WallClockTimer()
        let returned = Returned()
        let sleeper = Task.immediate {
            await timer.sleep(until: Self.farFuture)
            returned.set()
        }
        #expect(!returned.value)
        sleeper.cancel()
        try await value(of: sleeper, within: .seconds(120))
        #expect(returned.value)
    }

    @Test
    func aTaskCancelledBeforeItSleepsDoesNotSleep() async throws {
        let timer = WallClockTimer()
        let sleeper = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            await timer.sleep(until: Self.farFuture)
        }
        try await value(of: sleeper, within: .seconds(120))
    }

    /// The wake a timer's own cancellation handler leaves behind is used up by the cancelled
    /// sleep, not left for the next one.
    @available(macOS 26, *)
    @Test
    func aSleepAfterACancelledOneSleepsUntilWoken() async throws {
        let timer = WallClockTimer()
        let cancelled = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            await timer.sleep(until: Self.farFuture)
        }
        try await value(of: cancelled, within: .seconds(120))

        let returned = Returned()
        let next = Task.immediate {
            await timer.sleep(until: Self.farFuture)
            returned.set()
        }
        #expect(!returned.value, "a cancelled sleep's wake ended the next sleep")
        timer.wake()
        try await value(of: next, within: .seconds(120))
    }
}
