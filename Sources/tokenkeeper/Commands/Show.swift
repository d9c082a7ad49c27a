import ArgumentParser
import TokenKeeper

extension TokenKeeperCommand {
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one token's record (never its value).")

        @OptionGroup var options: GlobalOptions

        @Argument(help: "The token id.")
        var id: String

        @Flag(help: "Print one JSON object.")
        var json = false

        func run() async throws {
            try await reportingErrors {
                let inventory = try await options.context().inventory()
                let record = try inventory.token(id: id)
                Console.out(
                    json
                        ? try JSONOutput.encode(TokenJSON(record))
                        : TextOutput.details(record, now: inventory.clock.now)
                )
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the current token value (audited as revealed)."
        )

        @OptionGroup var options: GlobalOptions

        @Argument(help: "The token id.")
        var id: String

        func run() async throws {
            try await reportingErrors {
                let token = try await options.context().keyedInventory().reveal(id: id)
                Console.out(token)
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a token (its audit history stays)."
        )

        @OptionGroup var options: GlobalOptions

        @Argument(help: "The token id.")
        var id: String

        func run() async throws {
            try await reportingErrors {
                try await options.context().inventory(readOnly: false).remove(id: id)
                Console.out("removed \(id)")
            }
        }
    }
}
