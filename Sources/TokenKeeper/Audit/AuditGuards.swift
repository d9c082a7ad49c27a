/// How a store tells its audit table's append-only guards from look-alikes: a trigger counts
/// only when its stored definition is the schema's, word for word. A trigger of the right name
/// that was recreated with `WHEN 0`, for other events or over another function lets edits
/// through just as a dropped one does.
package enum AuditGuards {
    /// `definition` with every run of whitespace made one space, trimmed, without a final `;`:
    /// two definitions that differ only in layout compare equal, and nothing else does.
    package static func normalized(_ definition: String) -> String {
        var words = definition.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        while words.hasSuffix(";") || words.hasSuffix(" ") { words.removeLast() }
        return words
    }
}
