import ArgumentParser
import Foundation
import TokenKeeper

extension TokenKeeperCommand {
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Import tokens from JSON Lines, all or nothing.",
            discussion: """
                One object a line: {"project","token","label"?,"waba"?,"expires_at"?}. One bad line \
                imports nothing and names its line number.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Argument(help: "The file to read, or - for standard input.")
        var file: String = "-"

        @Flag(help: "Pass over lines whose token is stored already, and count them, instead of importing nothing.")
        var skipExisting = false

        @Flag(help: "Print the summary as JSON.")
        var json = false

        func run() throws {
            try reportingErrors {
                let inventory = try options.context().keyedInventory()
                let descriptor: Int32
                if file == "-" {
                    descriptor = 0
                } else {
                    descriptor = open(file, O_RDONLY | O_CLOEXEC)
                    guard descriptor >= 0 else {
                        let reason = String(cString: strerror(errno))
                        throw TokenKeeperError(.invalidInput, "cannot open \(file): \(reason)")
                    }
                }
                defer { if descriptor != 0 { close(descriptor) } }
                let summary = try inventory.importTokens(from: descriptor, skipExisting: skipExisting)
                let text =
                    if let skipped = summary.skipped {
                        "imported \(summary.imported) tokens, skipped \(skipped) already stored"
                    } else {
                        "imported \(summary.imported) tokens"
                    }
                Console.out(json ? try JSONOutput.encode(summary) : text)
            }
        }
    }
}
