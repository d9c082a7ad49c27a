import ArgumentParser
import TokenKeeper

extension TokenKeeperCommand {
    struct Audit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit",
            abstract: "Show or verify the hash-chained audit log.",
            subcommands: [Events.self, Verify.self],
            defaultSubcommand: Events.self
        )

        struct Events: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "show",
                abstract: "Print audit events in seq order (the most recent N with --limit)."
            )

            @OptionGroup var options: GlobalOptions

            @Option(help: "Only events of this token.")
            var token: String?

            @Option(help: "Only events of this kind.")
            var event: AuditEvent?

            @Option(help: "Only events at or after this time (RFC 3339).", transform: Parse.time)
            var since: UnixTime?

            @Option(help: "Print only the most recent N matching events.")
            var limit: Int?

            @Flag(help: "Print JSON Lines, one event a line.")
            var json = false

            func validate() throws {
                if let limit, limit < 0 { throw ValidationError("--limit must not be negative") }
            }

            func run() throws {
                try reportingErrors {
                    let inventory = try options.context().inventory()
                    let query = AuditLog.Query(tokenID: token, event: event, since: since, limit: limit)
                    var output = BufferedOutput()
                    let encoder = JSONOutput()
                    try inventory.forEachAuditEvent(matching: query) { record in
                        output.line(json ? try encoder.encode(AuditJSON(record)) : TextOutput.auditLine(record))
                    }
                    output.flush()
                }
            }
        }

        struct Verify: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "verify",
                abstract: "Walk the hash chain; exit 1 and name the first bad seq if it is broken."
            )

            @OptionGroup var options: GlobalOptions

            func run() throws {
                try reportingErrors {
                    let verification = try options.context().inventory().verifyAudit()
                    Console.out(verification.description)
                    if case .broken = verification { throw ExitCode(1) }
                }
            }
        }
    }
}
