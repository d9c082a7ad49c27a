import ArgumentParser
import TokenKeeper

extension TokenKeeperCommand.Audit {
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

        @OptionGroup var rows: LimitOption

        @Flag(help: "Print JSON Lines, one event a line.")
        var json = false

        func run() throws {
            try reportingErrors {
                let inventory = try options.context().inventory()
                let query = AuditLog.Query(tokenID: token, event: event, since: since, limit: rows.limit)
                var output = BufferedOutput()
                let encoder = JSONOutput()
                try inventory.forEachAuditEvent(matching: query) { record in
                    output.line(json ? try encoder.encode(AuditJSON(record)) : TextOutput.auditLine(record))
                }
                output.flush()
            }
        }
    }
}
