import ArgumentParser
import Foundation
import TokenKeeper

@main
struct TokenKeeperCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenkeeper",
        abstract: "Keeps WhatsApp Business long-lived access tokens alive.",
        discussion: """
            Stores each token sealed (AES-256-GCM) with its expiry, refreshes it through Sinch's \
            longLivedAccessToken endpoint before it dies, and audits every change.
            """,
        version: TokenKeeperVersion.current,
        subcommands: [
            Init.self, Add.self, Import.self, List.self, Show.self, Get.self, Remove.self, Check.self, Audit.self,
            Status.self, Probe.self, Key.self, Copy.self,
            Wabas.self, EnableTemplateAnalytics.self, Refresh.self, RunOnce.self, DaemonCommand.self, DemoCommand.self,
        ]
    )
}
