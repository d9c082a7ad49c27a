import ArgumentParser
import TokenKeeper

extension TokenKeeperCommand {
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show one token's record (never its value)."
        )

        @OptionGroup var options: GlobalOptions

        @Argument(help: "The token id.")
        var id: String

        @Flag(help: "Print one JSON object.")
        var json = false

        func run() throws {
            try reportingErrors {
                let inventory = try options.context().inventory()
                let record = try inventory.token(id: id)
                Console.out(
                    json
                        ? try JSONOutput.encode(TokenJSON(record))
                        : TextOutput.details(record, now: inventory.clock.now)
                )
            }
        }
    }
}
