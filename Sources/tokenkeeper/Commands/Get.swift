import ArgumentParser
import TokenKeeper

extension TokenKeeperCommand {
    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "get",
            abstract: "Print the current token value (audited as revealed)."
        )

        @OptionGroup var options: GlobalOptions

        @Argument(help: "The token id.")
        var id: String

        func run() throws {
            try reportingErrors {
                let token = try options.context().keyedInventory().reveal(id: id)
                Console.out(token)
            }
        }
    }
}
