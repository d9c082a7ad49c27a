/// The system's generator (`SystemRandomNumberGenerator`, `getrandom`), in a type with storage.
///
/// Every value comes from the system generator; the one byte exists only so that a variable of
/// this type has a real address. `SystemRandomNumberGenerator` has no stored properties, and for a
/// variable of an empty type Swift passes an undefined address when it is passed `inout` (Swift
/// 6.3.1: `ptr undef` in the IR). That is harmless in a normal build, nothing is ever read through
/// it, but under `-sanitize=thread` a *generic* callee (`inout some RandomNumberGenerator`, which
/// cannot know its argument is empty) reports its inout access to ThreadSanitizer at that address
/// (`__tsan_external_write`), and the runtime dies on whatever the register held: "SEGV ... in
/// __tsan::ExternalAccess" (scripts/tsan). The compiler skips the call only where it sees the
/// empty type itself (swiftlang/swift#35579). So code of ours passes this, not the system
/// generator, to a generic function of ours.
package struct SystemRandom: RandomNumberGenerator {
    private var system = SystemRandomNumberGenerator()
    /// Makes the type non-empty; see above. Never read.
    private let storage: UInt8 = 0

    package init() {}

    package mutating func next() -> UInt64 { system.next() }
}
