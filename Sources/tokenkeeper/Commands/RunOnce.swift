import ArgumentParser
import Foundation
import Synchronization
import TokenKeeper

extension TokenKeeperCommand {
    struct RunOnce: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run-once",
            abstract: "Refresh every token due now, then exit (cron mode).",
            discussion: """
                Exits 0 when every attempted refresh succeeded or nothing was due, 1 when one failed. \
                On SIGTERM or SIGINT it claims nothing more, lets the refreshes in flight finish and \
                commit, releases the rest, prints its summary and exits 143 (SIGTERM) or 130 (SIGINT); \
                a second signal stops it at once.
                """
        )

        @OptionGroup var options: GlobalOptions

        @OptionGroup var rehearsal: DryRunOptions

        @Flag(help: "Print one JSON summary object.")
        var json = false

        func run() throws {
            let stop = StopRequest()
            let (dryRun, runHooks) = (rehearsal.dryRun, rehearsal.runHooks)
            let (context, engine) = try reportingSetupErrors {
                let context = try options.context()
                return (context, try context.refreshEngine(dryRun: dryRun, logger: Diagnostics.logger()))
            }
            let summary = try reportingRefreshErrors(json: json) {
                guard !dryRun else {
                    return try runBlocking { try await engine.runOnce(dryRun: true, runHooks: runHooks) }
                }
                // Caught before anything is claimed: from here a stop lets what is in flight commit.
                try stop.catchSignals()
                // A heartbeat at the start and at the end, as `status` and `check --stale` read them;
                // one that cannot be written must not stop the refreshes (their own errors tell why).
                let heartbeat = Heartbeat(engine: engine, kind: .runOnce, clock: context.clock)
                try? heartbeat.beat()
                defer { try? heartbeat.beat() }
                return try runBlocking { try await engine.runOnce(shouldContinue: { !stop.requested }) }
            }
            if let signal = stop.signal {
                Console.note("tokenkeeper: stopped by \(StopRequest.name(signal)): the refreshes in flight committed")
                throw ExitCode(128 + signal)
            }
            if summary.failed + summary.needsReauth > 0 { throw ExitCode(1) }
        }
    }
}

/// A stop asked for by SIGTERM or SIGINT: the first ends the run gracefully, a second at once
/// (the leases it holds then lapse after their term).
final class StopRequest: Sendable {
    private let caught = Atomic<Int32>(0)

    /// The first signal caught, nil while none was.
    var signal: Int32? {
        let signal = caught.load(ordering: .relaxed)
        return signal == 0 ? nil : signal
    }

    var requested: Bool { signal != nil }

    static func name(_ signal: Int32) -> String { signal == SIGINT ? "SIGINT" : "SIGTERM" }

    func catchSignals() throws {
        try TerminationSignals().watch { [self] signal in
            guard caught.compareExchange(expected: 0, desired: signal, ordering: .relaxed).exchanged else {
                Console.note("tokenkeeper: \(Self.name(signal)) again: stopping at once")
                exit(128 + signal)
            }
            Console.note(
                "tokenkeeper: \(Self.name(signal)): claiming nothing more; the refreshes in flight finish and "
                    + "commit (send it again to stop at once)"
            )
            return true
        }
    }
}
