import ArgumentParser
import TokenKeeper

extension TokenKeeperCommand.Audit {
    struct RestoreTriggers: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "restore-triggers",
            abstract: "Put back the audit table's append-only triggers when they are missing or disabled.",
            discussion: """
                Restoring them does not vouch for the rows written while they were gone: check the \
                chain with the master key and against your anchors (`audit verify --anchor-file`).
                """
        )

        @OptionGroup var options: GlobalOptions

        func run() throws {
            try reportingErrors {
                let restored = try options.context().keyedInventory().restoreAuditGuards()
                if restored.isEmpty {
                    Console.out("the audit table's append-only triggers are all in place; nothing changed")
                } else {
                    Console.out(
                        "restored the audit table's append-only triggers \(restored.joined(separator: ", ")); "
                            + "check the chain with `tokenkeeper audit verify --anchor-file …`"
                    )
                }
            }
        }
    }
}

extension TokenKeeperCommand.Audit {
    struct Reseal: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reseal",
            abstract: "Seal the audit chain's head as it is now, over a seal that no longer matches it.",
            discussion: """
                For after an investigation: a host that wrote without the key, or an older \
                binary, leaves the seal behind the head, and `audit verify` fails from then on. \
                The new seal vouches for every row up to now: check the chain against your \
                anchors first (`audit verify --anchor-file`).
                """
        )

        @OptionGroup var options: GlobalOptions

        func run() throws {
            try reportingErrors {
                let head = try options.context().keyedInventory().resealAudit()
                Console.out("sealed the audit chain at \(head.seq):\(head.hash) (audited audit_resealed)")
            }
        }
    }
}
