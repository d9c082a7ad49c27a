import ArgumentParser
import Foundation
import TokenKeeper

extension TokenKeeperCommand.Audit {
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract:
                "Walk the hash chain and check its seal with the master key; exit 1 and say what is wrong if it fails."
        )

        @OptionGroup var options: GlobalOptions

        @Option(
            name: .customLong("anchor"),
            help: "A head printed earlier by `audit head` (SEQ:HASH) that must still be in the chain; repeatable."
        )
        var anchors: [String] = []

        @Option(
            help:
                "A file of anchors, one SEQ:HASH a line, as `audit head` prints them (blank lines and # comments ignored)."
        )
        var anchorFile: String?

        func run() throws {
            try reportingErrors {
                let anchors = try readAnchors()
                let context = try options.context()
                // No key at hand (a monitoring user, who may not read the key file): the chain is
                // still checked on its own. A key that is there but wrong or unsafe is an error.
                let unchecked = context.keyUnavailable()
                let inventory = try unchecked == nil ? context.keyedInventory() : context.inventory()
                let verification = try inventory.verifyAudit(anchors: anchors)
                Console.out(verification.description)
                guard case .intact = verification else { throw ExitCode(1) }
                if let unchecked {
                    Console.out("seal not checked (no master key: \(TerminalText.escape(unchecked)))")
                } else {
                    Console.out("seal verified with the master key")
                }
            }
        }

        /// `--anchor` and the lines of `--anchor-file`, each `SEQ:HASH`; a malformed one is 64.
        private func readAnchors() throws -> [AuditLog.Anchor] {
            var texts = anchors.map { ("--anchor", $0) }
            if let anchorFile {
                guard let data = FileManager.default.contents(atPath: anchorFile) else {
                    throw TokenKeeperError(.usage, "cannot read the anchor file \(anchorFile)")
                }
                for (index, line) in String(decoding: data, as: UTF8.self).split(
                    separator: "\n",
                    omittingEmptySubsequences: false
                ).enumerated() {
                    // The first word of a line: `audit head`'s output appended as it is works.
                    guard let text = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).first,
                        !text.hasPrefix("#")
                    else { continue }
                    texts.append(("\(anchorFile) line \(index + 1)", String(text)))
                }
            }
            return try texts.map { source, text in
                guard let anchor = AuditLog.Anchor(text) else {
                    throw TokenKeeperError(
                        .usage,
                        "\(source): \"\(text)\" is not an anchor (SEQ:HASH, as `audit head` prints it)"
                    )
                }
                return anchor
            }
        }
    }
}
