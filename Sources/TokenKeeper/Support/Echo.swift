/// A value from the input quoted back in a message, cut short: a message is one line an operator
/// reads, and a megabyte pasted by mistake must not become a megabyte of log.
package enum Echo {
    /// The most characters of a value a message repeats.
    package static let maximumCharacters = 64

    /// `value` in double quotes; a longer one cut, with its size.
    package static func quoted(_ value: some StringProtocol) -> String {
        guard value.count > maximumCharacters else { return "\"\(value)\"" }
        return "\"\(value.prefix(maximumCharacters))…\" (\(value.utf8.count) bytes)"
    }

    /// `value` unquoted; a longer one cut, with its size.
    package static func cut(_ value: some StringProtocol) -> String {
        guard value.count > maximumCharacters else { return String(value) }
        return "\(value.prefix(maximumCharacters))… (\(value.utf8.count) bytes)"
    }
}
