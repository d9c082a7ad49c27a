import ArgumentParser
import TokenKeeper

extension TokenKeeperCommand.Audit {
    struct Head: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "head",
            abstract: "Print the newest audit row's seq, hash and time, to anchor elsewhere (SEQ:HASH).",
            discussion: """
                Keep the printed SEQ:HASH off this host; `audit verify --anchor SEQ:HASH` later \
                confirms the row is still in the chain, which catches a store rolled back to an \
                older copy or cut short.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Flag(help: "Print one JSON object: {\"seq\", \"hash\", \"at\"}.")
        var json = false

        func run() throws {
            try reportingErrors {
                let head = try options.context().inventory().auditHead()
                if json {
                    Console.out(try JSONOutput.encode(AuditHeadJSON(head)))
                } else {
                    Console.out("\(head.anchor)  \(head.at.map(RFC3339.format) ?? "(no events yet)")")
                }
            }
        }
    }
}
