import ArgumentParser
import TokenKeeper

extension TokenKeeperCommand {
    struct Key: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "key",
            abstract: "List, rotate and retire the master keys of the keyring.",
            subcommands: [List.self, Rotate.self, Retire.self],
            defaultSubcommand: List.self
        )
    }
}

extension TokenKeeperCommand.Key {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "Each key of the keyring: its id, when it was made, whether it is current, its tokens."
        )

        @OptionGroup var options: GlobalOptions

        @Flag(help: "Print a JSON array: [{\"id\", \"created_at\", \"current\", \"tokens\"}].")
        var json = false

        func run() throws {
            try reportingErrors {
                let rotation = try options.context().keyRotation()
                let keys = try rotation.list()
                let missing = keys.filter { rotation.sealer.keyring.entry(id: $0.id) == nil }
                defer {
                    if !missing.isEmpty {
                        Console.error(
                            "\(missing.map(\.tokens).reduce(0, +)) tokens are sealed under keys not in "
                                + "\(rotation.sealer.keyring.source) (\(missing.map(\.id).joined(separator: ", "))): they do "
                                + "not open until the keyring that holds those keys is back"
                        )
                    }
                }
                if json {
                    Console.out(try JSONOutput.encode(keys.map(KeyJSON.init)))
                    if !missing.isEmpty { throw ExitCode(1) }
                    return
                }
                Console.out("ID                CREATED               CURRENT  TOKENS")
                for key in keys {
                    let created = key.createdAt.map(RFC3339.format) ?? "-"
                    Console.out(
                        key.id + "  " + created.padding(toLength: 20, withPad: " ", startingAt: 0) + "  "
                            + (key.current ? "yes" : "no ").padding(toLength: 7, withPad: " ", startingAt: 0) + "  "
                            + String(key.tokens) + (missing.contains(key) ? "  (not in the keyring)" : "")
                    )
                }
                if !missing.isEmpty { throw ExitCode(1) }
            }
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate",
            abstract: "Add a fresh key to the keyring, make it current and re-seal every token under it.",
            discussion: """
                Safe beside running daemons and cron runs: tokens are re-sealed a page at a time, \
                each page in its own transaction. Stopped at any moment, every token still opens; \
                run it again and it finishes the re-sealing before adding another key. The older \
                keys stay in the keyring, to open backups, until `key retire`.
                """
        )

        @OptionGroup var options: GlobalOptions

        func run() throws {
            try reportingErrors {
                let summary = try options.context().keyRotation().rotate()
                let how = summary.addedKey ? "rotated to the new key" : "finished the rotation to key"
                Console.out("\(how) \(summary.keyID): re-sealed \(summary.resealed) tokens")
                Console.note(
                    "copy the keyring to every other host of this store; restart services that read it as a systemd credential"
                )
                guard summary.remaining == 0 else {
                    Console.error(
                        "\(summary.remaining) tokens are still sealed under older keys (written meanwhile by a process "
                            + "that holds the old keyring: restart it, then run `tokenkeeper key rotate` again)"
                    )
                    throw ExitCode(1)
                }
            }
        }
    }

    struct Retire: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "retire",
            abstract: "Remove a key that is not current and seals no token from the keyring."
        )

        @OptionGroup var options: GlobalOptions

        @Argument(help: "The key id, as `key list` shows it.")
        var id: String

        func run() throws {
            try reportingErrors {
                try options.context().keyRotation().retire(id: id)
                Console.out("retired key \(id)")
            }
        }
    }
}
