import Synchronization
import Testing
import TokenKeeperTesting

@testable import TokenKeeper

/// The call slots in process: never more bodies at once than slots, a freed slot goes to the
/// first waiter, a throwing body frees its slot, and cancellation does not end a wait.
///
/// Callers start with `Task.immediate`, which runs up to the first suspension before it
/// returns: once started, a caller holds a slot or is queued for one, in the order started.
@Suite struct CallSlotsTests {
    /// Bodies that hold their slot until the test lets each one go, recording which ran, in what
    /// order, and how many at once.
    final class Bodies: Sendable {
        private struct State {
            var running = 0
            var mostAtOnce = 0
            var entered: [Int] = []
            var cancelled: Set<Int> = []
            var held: [Int: CheckedContinuation<Void, Never>] = [:]
        }

        private let state = Mutex(State())

        var entered: [Int] { state.withLock { $0.entered } }
        var mostAtOnce: Int { state.withLock { $0.mostAtOnce } }
        var cancelled: Set<Int> { state.withLock { $0.cancelled } }

        /// Body `index`: holds its slot until ``finish(_:)``.
        func body(_ index: Int) async {
            let cancelled = Task.isCancelled
            await withCheckedContinuation { continuation in
                state.withLock { state in
                    state.running += 1
                    state.mostAtOnce = max(state.mostAtOnce, state.running)
                    state.entered.append(index)
                    if cancelled { state.cancelled.insert(index) }
                    state.held[index] = continuation
                }
            }
            state.withLock { $0.running -= 1 }
        }

        /// Lets the `turn`-th body to have entered return, once it has.
        func finish(turn: Int) async throws {
            try await waitUntil("body number \(turn + 1) to start", within: .seconds(120)) { entered.count > turn }
            let continuation = state.withLock { $0.held.removeValue(forKey: $0.entered[turn]) }
            continuation?.resume()
        }
    }

    struct Refused: Error {}

    @available(macOS 26, *)
    @Test func neverRunsMoreBodiesAtOnceThanItHasSlots() async throws {
        let slots = CallSlots(2)
        let bodies = Bodies()
        let callers = (0..<8).map { index in Task.immediate { await slots.withSlot { await bodies.body(index) } } }
        for turn in 0..<8 { try await bodies.finish(turn: turn) }
        for caller in callers { try await value(of: caller) }
        #expect(bodies.entered.count == 8)
        #expect(bodies.mostAtOnce == 2)
    }

    @available(macOS 26, *)
    @Test func aFreedSlotGoesToTheWaiterThatAskedFirst() async throws {
        let slots = CallSlots(1)
        let bodies = Bodies()
        let callers = (0..<4).map { index in Task.immediate { await slots.withSlot { await bodies.body(index) } } }
        #expect(bodies.entered == [0], "a waiter ran while the only slot was held")
        for turn in 0..<4 { try await bodies.finish(turn: turn) }
        for caller in callers { try await value(of: caller) }
        #expect(bodies.entered == [0, 1, 2, 3])
    }

    @Test func aThrowingBodyFreesItsSlot() async throws {
        let slots = CallSlots(1)
        await #expect(throws: Refused.self) { try await slots.withSlot { throw Refused() } }
        let next = Task { await slots.withSlot { 42 } }
        #expect(try await value(of: next, within: .seconds(120)) == 42)
    }

    /// The wait for a slot ignores cancellation (the calls it guards end on their own timeout): a
    /// cancelled waiter keeps its place, runs its body when a slot frees (cancelled, so the call
    /// inside can stop at once), and frees the slot after.
    @available(macOS 26, *)
    @Test func aCancelledWaiterKeepsItsPlaceAndFreesTheSlotAfterItsBody() async throws {
        let slots = CallSlots(1)
        let bodies = Bodies()
        let holder = Task.immediate { await slots.withSlot { await bodies.body(0) } }
        let waiter = Task.immediate { await slots.withSlot { await bodies.body(1) } }
        let later = Task.immediate { await slots.withSlot { await bodies.body(2) } }
        waiter.cancel()
        #expect(bodies.entered == [0], "cancellation let the waiter past a held slot")
        for turn in 0..<3 { try await bodies.finish(turn: turn) }
        for caller in [holder, waiter, later] { try await value(of: caller) }
        #expect(bodies.entered == [0, 1, 2])
        #expect(bodies.cancelled == [1])
    }
}
