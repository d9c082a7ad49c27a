import ArgumentParser

/// `--limit N` of `list` and `audit`: how many rows to print at most (`audit`: the most recent).
struct LimitOption: ParsableArguments {
    @Option(help: "Print at most this many (audit: the most recent this many).")
    var limit: Int?

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must not be negative") }
    }
}
