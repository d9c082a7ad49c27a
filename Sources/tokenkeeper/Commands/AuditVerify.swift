import ArgumentParser
import TokenKeeper

extension TokenKeeperCommand.Audit {
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Walk the hash chain; exit 1 and name the first bad seq if it is broken."
        )

        @OptionGroup var options: GlobalOptions

        func run() throws {
            try reportingErrors {
                let verification = try options.context().inventory().verifyAudit()
                Console.out(verification.description)
                if case .broken = verification { throw ExitCode(1) }
            }
        }
    }
}
