import ArgumentParser
import TokenKeeper

extension TokenKeeperCommand {
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Create the database and a master key file (0600)."
        )

        @OptionGroup var options: GlobalOptions

        func run() throws {
            try reportingErrors {
                let result = try options.context().initialize()
                if result.createdDatabase {
                    Console.out("created database \(result.databasePath)")
                } else {
                    Console.out("database \(result.databasePath) is already initialized; nothing changed")
                }
                if let keyFile = result.createdKeyFile {
                    Console.out("created master key file \(keyFile) (0600): back it up; without it no token opens")
                } else {
                    Console.out("master key: \(result.keySource)")
                }
            }
        }
    }
}
