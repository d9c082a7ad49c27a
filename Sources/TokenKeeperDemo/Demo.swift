import Foundation
import Logging
import ServiceLifecycle
import TokenKeeper

/// `tokenkeeper demo`: the daemon's refresh scheduler at work in a throwaway sandbox (see
/// ``DemoSandbox``), watched live, with a revoked token and a throttled period injected so that
/// `retrying`, `needs_reauth` and recovery are seen happening. Ends after the duration or on
/// SIGINT/SIGTERM with `list`, the last audit events and `audit verify`; nothing is left running
/// and the folder is removed.
package enum Demo {
    package static let defaultDuration: Duration = .seconds(90)
    /// How long refreshes in flight may finish once the demo ends.
    static let grace: Duration = .seconds(10)
    static let auditLines = 8

    package struct Options: Sendable {
        package var duration: Duration
        /// Leave the folder (database and key) in place for a look around.
        package var keep: Bool
        /// Redraw the live view in place: standard output is a terminal.
        package var interactive: Bool

        package init(duration: Duration = Demo.defaultDuration, keep: Bool = false, interactive: Bool = false) {
            self.duration = duration
            self.keep = keep
            self.interactive = interactive
        }
    }

    /// What the demo saw.
    package struct Report: Sendable {
        package var refreshes: Int
        package var failedAttempts: Int
        package var needsReauth: Int
        package var recovered: Int
        package var verification: AuditLog.Verification
        /// Ctrl-C or SIGTERM ended it before its duration.
        package var interrupted: Bool
        /// How long the scheduler ran.
        package var elapsed: Duration

        /// Why the demo did not show what it should, or nil: the audit chain verifies and at
        /// least one refresh went through.
        package var problem: String? {
            if case .broken(let seq, let reason) = verification {
                return "the audit chain is broken at seq \(seq): \(reason)"
            }
            if refreshes == 0 { return "no token was refreshed" }
            return nil
        }
    }

    /// Runs the demo, writing everything it shows through `write` (text with its own newlines and,
    /// when `options.interactive`, ANSI cursor controls). `logger` goes to the engine, the Sinch
    /// client and FakeSinch.
    package static func run(
        _ options: Options,
        write: @escaping @Sendable (String) -> Void,
        logger: Logger
    ) async throws -> Report {
        guard options.duration > .zero else { throw TokenKeeperError(.usage, "--duration must be longer than zero") }
        let sandbox = try await DemoSandbox.start(logger: logger)
        var report: Report
        do {
            write(introduction(sandbox, options))
            report = try await watch(sandbox, options, write: write, logger: logger)
            await sandbox.stopSinch()
            write("stopped: the scheduler is done, FakeSinch is down (port \(sandbox.port) closed)\n")
            report.verification = try printEnding(sandbox.context, write: write)
        } catch {
            await sandbox.stopSinch()
            if !options.keep { try? sandbox.removeFolder() }
            throw error
        }
        if options.keep {
            write(
                "\nkept \(sandbox.folder); look around with: tokenkeeper --db \(sandbox.initResult.databasePath) list\n"
            )
        } else {
            try sandbox.removeFolder()
            write("\nremoved \(sandbox.folder)\n")
        }
        write(summary(report) + "\n")
        return report
    }

    /// The scheduler and the driver under one service group until the duration is up or a
    /// signal comes; the driver's return shuts the scheduler down gracefully.
    private static func watch(
        _ sandbox: DemoSandbox,
        _ options: Options,
        write: @escaping @Sendable (String) -> Void,
        logger: Logger
    ) async throws -> Report {
        let context = sandbox.context
        let engine = try context.refreshEngine(dryRun: false, logger: logger)
        let scheduler = RefreshScheduler(engine: engine, clock: context.clock, logger: logger)
        let driver = DemoDriver(
            sandbox: sandbox,
            monitor: DemoMonitor(inventory: try context.inventory(), projectOfToken: sandbox.projectOfToken),
            view: DemoView(interactive: options.interactive, duration: options.duration, write: write),
            started: .now
        )
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: scheduler),
                // Last, so a signal stops it first; its return stops the scheduler gracefully.
                .init(service: driver, successTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        configuration.maximumGracefulShutdownDuration = grace
        // Before the scheduler's first pass, which could otherwise refresh it first.
        sandbox.revokeDoomed()
        try await ServiceGroup(configuration: configuration).run()
        let monitor = try driver.finish()
        return Report(
            refreshes: monitor.refreshes,
            failedAttempts: monitor.failedAttempts,
            needsReauth: monitor.needsReauth,
            recovered: monitor.recovered,
            verification: .intact(count: 0, head: ""),
            interrupted: driver.interrupted,
            elapsed: driver.elapsed
        )
    }

    private static func introduction(_ sandbox: DemoSandbox, _ options: Options) -> String {
        let policy = DemoSandbox.policy
        let limits = sandbox.context.configuration.limits
        let now = sandbox.context.clock.now
        let expiries = sandbox.tokens.map { $0.expiresAt.seconds(since: now) }
        let rate = limits.rate.rounded() == limits.rate ? String(Int(limits.rate)) : String(limits.rate)
        let lines = [
            "tokenkeeper demo: the daemon's scheduler keeps \(sandbox.tokens.count) tokens alive for "
                + "\(DurationText.format(options.duration)) (Ctrl-C ends it sooner)",
            "  folder  \(sandbox.folder): a new database and master key, as `init` makes them; "
                + (options.keep ? "kept at the end" : "removed at the end"),
            "  sinch   FakeSinch in this process at \(sandbox.fake.baseURL), with its own access key",
            "  tokens  \(sandbox.tokens.count) over \(DemoSandbox.projects.joined(separator: ", ")), expiring in "
                + "\(expiries.min() ?? 0)s to \(expiries.max() ?? 0)s (values are never shown)",
            "  policy  lifetime \(DurationText.format(policy.lifetime)), refresh \(DurationText.format(policy.renewBefore)) "
                + "before expiry (jitter up to \(DurationText.format(policy.maximumJitter))), retries back off "
                + "\(DurationText.format(policy.backoffMin)) to \(DurationText.format(policy.backoffMax))",
            "  limits  concurrency \(limits.concurrency), \(rate) requests/s per project",
            "",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// `list`, the last audit events and `audit verify` (the seal too), as those commands print them.
    private static func printEnding(
        _ context: CommandContext,
        write: @Sendable (String) -> Void
    ) throws -> AuditLog.Verification {
        // With the demo's key, as `audit verify` loads it: the chain and its seal.
        let inventory = try context.keyedInventory()
        let now = inventory.clock.now
        var rows: [[String]] = []
        try inventory.forEachToken(matching: Inventory.Query()) { rows.append(TextOutput.tokenRow($0, now: now)) }
        let table = TextOutput.Table(headers: TextOutput.tokenHeaders, sizingRows: rows)
        var text = "\n$ tokenkeeper list\n" + ([table.headers] + rows).map { table.line($0) + "\n" }.joined()
        text += "\n$ tokenkeeper audit --limit \(auditLines)\n"
        try inventory.forEachAuditEvent(matching: AuditLog.Query(limit: auditLines)) {
            text += TextOutput.auditLine($0) + "\n"
        }
        text += "\n$ tokenkeeper audit verify\n"
        let verification = try inventory.verifyAudit()
        text += verification.description + "\n"
        if case .intact = verification { text += "seal verified with the master key\n" }
        write(text)
        return verification
    }

    private static func summary(_ report: Report) -> String {
        let chain =
            if case .intact = report.verification { "audit chain intact" } else { "audit chain BROKEN" }
        let ran = "\(report.elapsed.wholeSeconds)s"
        let ended = report.interrupted ? "interrupted after \(ran)" : "ran \(ran)"
        return "demo: refreshes \(report.refreshes), failed attempts \(report.failedAttempts), "
            + "needs_reauth \(report.needsReauth), recovered \(report.recovered); \(chain); \(ended)"
    }
}
