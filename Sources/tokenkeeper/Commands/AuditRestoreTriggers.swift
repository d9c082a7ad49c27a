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
