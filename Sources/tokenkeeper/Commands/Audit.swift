import ArgumentParser
import TokenKeeper

extension TokenKeeperCommand {
    struct Audit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit",
            abstract: "Show or verify the hash-chained audit log.",
            subcommands: [Events.self, Verify.self, Head.self, RestoreTriggers.self, Reseal.self],
            defaultSubcommand: Events.self
        )
    }
}
