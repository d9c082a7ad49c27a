import ArgumentParser
import SinchProvisioning
import TokenKeeper

extension TokenKeeperCommand {
    struct Wabas: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "wabas",
            abstract: "List the WhatsApp Business Accounts and numbers a stored token can reach (wabaDetails)."
        )

        @OptionGroup var options: GlobalOptions

        @Argument(help: "The token id.")
        var id: String

        @Flag(help: "Print one JSON array.")
        var json = false

        func run() throws {
            try reportingErrors {
                let context = try options.context()
                let operations = SinchOperations(
                    client: try context.configuration.sinchClient(logger: Diagnostics.logger()),
                    inventory: try context.keyedInventory()
                )
                let wabas = try runBlocking { [id] in try await operations.wabas(id: id) }
                Console.out(json ? try JSONOutput.encode(wabas.map(WABAJSON.init)) : TextOutput.wabas(wabas))
            }
        }
    }
}
