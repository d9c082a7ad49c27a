import ArgumentParser
import TokenKeeper

extension TokenKeeperCommand {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List tokens, soonest expiry first. Never prints token values."
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Only tokens that expire within this duration (14d, 36h).", transform: Parse.duration)
        var expiringWithin: Duration?

        @Option(help: "Only tokens in this state: active, retrying, needs_reauth or expired.")
        var state: TokenState?

        @Option(help: "Only tokens of this Sinch project.")
        var project: String?

        @OptionGroup var rows: LimitOption

        @Flag(help: "Print one JSON array.")
        var json = false

        func run() throws {
            try reportingErrors {
                let inventory = try options.context().inventory()
                let query = Inventory.Query(
                    expiringWithin: expiringWithin,
                    state: state,
                    project: project,
                    limit: rows.limit
                )
                var output = BufferedOutput()
                if json {
                    var first = true
                    let json = JSONOutput()
                    output.write("[")
                    try inventory.forEachToken(matching: query) { record in
                        output.write((first ? "" : ",") + (try json.encode(TokenJSON(record))))
                        first = false
                    }
                    output.line("]")
                } else {
                    try printTable(inventory, query, &output)
                }
                output.flush()
            }
        }

        /// Column widths come from the first thousand rows; the rest stream with them.
        private func printTable(_ inventory: Inventory, _ query: Inventory.Query, _ output: inout BufferedOutput) throws
        {
            let now = inventory.clock.now
            var head: [[String]] = []
            var table: TextOutput.Table?
            try inventory.forEachToken(matching: query) { record in
                let row = TextOutput.tokenRow(record, now: now)
                if let table {
                    output.line(table.line(row))
                } else if head.count < 1_000 {
                    head.append(row)
                } else {
                    let sized = TextOutput.Table(headers: TextOutput.tokenHeaders, sizingRows: head)
                    output.line(sized.line(sized.headers))
                    head.forEach { output.line(sized.line($0)) }
                    output.line(sized.line(row))
                    table = sized
                }
            }
            guard table == nil else { return }
            if head.isEmpty {
                Console.note("no tokens match")
                return
            }
            let sized = TextOutput.Table(headers: TextOutput.tokenHeaders, sizingRows: head)
            output.line(sized.line(sized.headers))
            head.forEach { output.line(sized.line($0)) }
        }
    }
}
