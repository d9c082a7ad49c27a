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

/// `audit head --json`.
struct AuditHeadJSON: Encodable {
    let head: AuditLog.Head

    init(_ head: AuditLog.Head) { self.head = head }

    enum CodingKeys: String, CodingKey { case seq, hash, at }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(head.seq, forKey: .seq)
        try container.encode(head.hash, forKey: .hash)
        if let at = head.at {
            try container.encode(RFC3339.format(at), forKey: .at)
        } else {
            try container.encodeNil(forKey: .at)
        }
    }
}
