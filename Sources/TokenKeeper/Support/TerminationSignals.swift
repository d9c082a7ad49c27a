import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The write end of the pipe the signal handler reports to; set once, before the handler exists.
nonisolated(unsafe) private var signalPipeWriteEnd: Int32 = -1

/// SIGTERM and SIGINT, caught by a plain handler that writes the signal's number to a pipe:
/// what `run-once` and `fake-sinch` stop on.
///
/// Why not a Dispatch signal source: on Linux it leaves a signal the shell ignored (SIGINT of a
/// background job) ignored, and a signal sent just after the source reports itself registered can
/// be lost. `signal(2)` is in place when it returns, and writing to a pipe is async-signal-safe.
/// One per process.
package struct TerminationSignals: Sendable {
    private let readEnd: Int32

    /// Installs the handlers: from here on SIGTERM and SIGINT no longer end the process by themselves.
    package init() throws {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        readEnd = ends[0]
        signalPipeWriteEnd = ends[1]
        // A parent may have spawned us from a thread that blocks these signals (the mask is
        // inherited across exec): unblock them, or SIGTERM would never arrive.
        var blocked = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGTERM)
        sigaddset(&blocked, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &blocked, nil)
        for number in [SIGTERM, SIGINT] {
            _ = signal(number) { caught in
                var byte = UInt8(truncatingIfNeeded: caught)
                _ = write(signalPipeWriteEnd, &byte, 1)
            }
        }
    }

    /// Waits for the first of the signals and returns its number.
    package func next() async -> Int32 {
        await withCheckedContinuation { continuation in
            watch { signal in
                continuation.resume(returning: signal)
                return false
            }
        }
    }

    /// Calls `body` with each signal's number as it arrives, on a thread of its own (a blocking
    /// read: the cooperative pool is not held), until `body` returns false.
    package func watch(_ body: @escaping @Sendable (Int32) -> Bool) {
        let readEnd = readEnd
        let thread = Thread {
            var byte: UInt8 = 0
            while true {
                let count = read(readEnd, &byte, 1)
                if count < 0, errno == EINTR { continue }
                guard count == 1, body(Int32(byte)) else { return }
            }
        }
        thread.name = "tokenkeeper.signals"
        thread.start()
    }
}
