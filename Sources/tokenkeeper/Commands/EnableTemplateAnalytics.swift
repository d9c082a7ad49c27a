import ArgumentParser
import TokenKeeper

extension TokenKeeperCommand {
    struct EnableTemplateAnalytics: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "enable-template-analytics",
            abstract: "Turn on template analytics for a Sinch project's WABA (enableTemplateAnalytics)."
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "The Sinch project id.")
        var project: String

        func run() throws {
            try reportingErrors {
                let client = try options.context().configuration.sinchClient(logger: Diagnostics.logger())
                try runBlocking { [project] in
                    try await SinchOperations.enableTemplateAnalytics(project: project, client: client)
                }
                Console.out("template analytics enabled for project \(project)")
            }
        }
    }
}
