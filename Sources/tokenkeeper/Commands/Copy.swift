import ArgumentParser
import Foundation
import TokenKeeper

extension TokenKeeperCommand {
    struct Copy: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "copy",
            abstract: "Copy every token and the whole audit chain into an empty store (a backup, or a move).",
            discussion: """
                Reads the store in one consistent transaction while daemons keep running and writes \
                the target in one transaction: sealed tokens as they are (without leases), the audit \
                chain row for row. The target is an SQLite file (created when missing) or a \
                postgres:// URL (the schema is created when missing); it must hold no tokens and no \
                audit events (else exit 65). The target's chain is verified before the counts are \
                printed. Needs no master key.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(name: .customLong("to"), help: "The target: an SQLite file or a postgres:// URL without a password.")
        var target: String

        @Option(
            help: "A file whose first line is the target server's password (else PGPASSWORD, database.password_file)."
        )
        var toPasswordFile: String?

        @Flag(help: "Print one JSON object.")
        var json = false

        func run() throws {
            try reportingErrors {
                try StoreChoice.refusePasswordInArguments(target, option: "--to")
                let context = try options.context()
                let backend = try StoreChoice.backend(at: target, context.configuration, passwordFile: toPasswordFile)
                let source = try context.openStore(readOnly: true)
                let store = try backend.openIfPresent(at: target) ?? backend.create(at: target)
                guard store.location != source.location else {
                    throw TokenKeeperError(.usage, "--to names the store being copied (\(source.location))")
                }
                let summary = try StoreCopy(from: source, to: store).run()
                if json {
                    Console.out(try JSONOutput.encode(CopyJSON(summary, target: store.location)))
                } else {
                    Console.out(
                        "copied \(counted(summary.tokens, "token")) and \(counted(summary.auditEvents, "audit event")) from "
                            + "\(source.location) to \(store.location); its audit chain verifies (head \(summary.auditHead))"
                    )
                }
            }
        }
    }
}

/// `copy --json`.
struct CopyJSON: Encodable {
    var tokens: Int
    var auditEvents: Int64
    var auditHead: String
    var target: String

    init(_ summary: StoreCopy.Summary, target: String) {
        tokens = summary.tokens
        auditEvents = summary.auditEvents
        auditHead = summary.auditHead
        self.target = target
    }

    enum CodingKeys: String, CodingKey {
        case tokens
        case auditEvents = "audit_events"
        case auditHead = "audit_head"
        case target
    }
}
