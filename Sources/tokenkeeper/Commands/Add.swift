import ArgumentParser
import Foundation
import TokenKeeper

extension TokenKeeperCommand {
    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Store a long-lived token, or exchange an Embedded Signup code, read from standard input.",
            discussion: """
                Prints the new token's id. The token (or, with --code-stdin, the single-use code) is read \
                from stdin, never from argv. A code is exchanged through Sinch's longLivedAccessToken \
                call first, which needs the Sinch key (SINCH_KEY_ID, SINCH_KEY_SECRET).
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "The Sinch project id the token belongs to.")
        var project: String?

        @Option(help: "A name for people (the customer).")
        var label: String?

        @Option(name: .customLong("waba"), help: "The WhatsApp Business Account id.")
        var waba: String?

        @Option(help: "SINCH_AMERICA, SINCH_BR, SINCH_MX, SINCH_SEP or SINCH_UK.")
        var businessManager: String?

        @Flag(help: "Read a long-lived token from standard input (the default).")
        var tokenStdin = false

        @Flag(help: "Read an Embedded Signup code from standard input and exchange it through Sinch.")
        var codeStdin = false

        @Option(help: "When the token expires (RFC 3339), for tokens of known age.", transform: Parse.time)
        var expiresAt: UnixTime?

        @Option(help: "When the token was issued (RFC 3339); it expires a lifetime later.", transform: Parse.time)
        var issuedAt: UnixTime?

        @Option(help: "Put the token into this existing record (the way back from needs_reauth).")
        var replace: String?

        @Option(
            help: ArgumentHelp(
                "Store the token kept in a recovery file (written when an exchanged token could not be stored).",
                valueName: "file"
            )
        )
        var recover: String?

        @Flag(help: "Print the stored token as JSON.")
        var json = false

        /// Anything left on the command line: a token given there by mistake (never echoed).
        @Argument(help: .hidden)
        var strayArguments: [String] = []

        func validate() throws {
            guard strayArguments.isEmpty else {
                throw ValidationError(
                    "add takes no token on the command line, where every user of this machine sees it (ps): "
                        + "it reads the token from standard input, as in printf '%s' \"$TOKEN\" | tokenkeeper add --project P"
                )
            }
            if recover != nil {
                guard !tokenStdin, !codeStdin, project == nil, label == nil, waba == nil, businessManager == nil,
                    expiresAt == nil, issuedAt == nil, replace == nil
                else {
                    throw ValidationError("--recover takes the token and its details from the file: give it alone")
                }
                return
            }
            if tokenStdin, codeStdin {
                throw ValidationError("give --code-stdin or --token-stdin, not both")
            }
            if codeStdin, expiresAt != nil || issuedAt != nil {
                throw ValidationError("a token exchanged from a code is new: --expires-at and --issued-at do not apply")
            }
            if expiresAt != nil, issuedAt != nil {
                throw ValidationError("give --expires-at or --issued-at, not both")
            }
            if replace == nil, project == nil {
                throw ValidationError("--project is required (unless --replace names an existing token)")
            }
        }

        func run() throws {
            try reportingErrors {
                let context = try options.context()
                let inventory = try context.keyedInventory()
                if let recover {
                    let record = try inventory.recover(from: recover, note: { Console.note("tokenkeeper: \($0)") })
                    Console.out(json ? try JSONOutput.encode(TokenJSON(record)) : record.id)
                    return
                }
                let new = NewToken(
                    project: project ?? "",
                    label: label,
                    waba: waba,
                    businessManager: businessManager,
                    issuedAt: issuedAt,
                    expiresAt: expiresAt
                )
                if codeStdin {
                    let client = try context.configuration.sinchClient(logger: Diagnostics.logger())
                    let code = try StandardInput.readSecret(what: "code")
                    let operations = SinchOperations(
                        client: client,
                        inventory: inventory,
                        storeWait: context.configuration.limits.exchangeStoreWait,
                        onWait: { Console.note("tokenkeeper: \($0)") }
                    )
                    let record = try runBlocking { [replace] in
                        try await operations.exchange(code: code, new, replacing: replace)
                    }
                    Console.out(json ? try JSONOutput.encode(TokenJSON(record)) : record.id)
                    return
                }
                let token = try StandardInput.readSecret(what: "token")
                let record =
                    if let replace {
                        try inventory.replace(id: replace, token: token, new)
                    } else {
                        try inventory.add(token: token, new)
                    }
                Console.out(json ? try JSONOutput.encode(TokenJSON(record)) : record.id)
            }
        }
    }
}

enum StandardInput {
    /// Reads one secret from stdin, surrounding whitespace trimmed; hints when stdin is a terminal.
    static func readSecret(what: String) throws -> String {
        if isatty(0) == 1 {
            Console.note("paste the \(what), then press Enter and Ctrl-D")
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4_096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw TokenKeeperError(.invalidInput, "cannot read standard input") }
            if count == 0 { break }
            bytes += chunk[..<count]
            guard bytes.count <= 65_536 else {
                throw TokenKeeperError(.invalidInput, "standard input holds more than one \(what) (over 64 KiB)")
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw TokenKeeperError(.invalidInput, "the \(what) on standard input is not UTF-8 text")
        }
        let secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !secret.isEmpty else {
            throw TokenKeeperError(.invalidInput, "no \(what) on standard input (pipe it in: ... | tokenkeeper add)")
        }
        return secret
    }
}
