import ArgumentParser
import TokenKeeper

extension TokenKeeperCommand {
    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove",
            abstract: "Delete a token (its audit history stays)."
        )

        @OptionGroup var options: GlobalOptions

        @Argument(help: "The token id.")
        var id: String

        func run() throws {
            try reportingErrors {
                try options.context().keyedInventory().remove(id: id)
                Console.out("removed \(id)")
            }
        }
    }
}
