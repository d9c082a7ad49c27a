/// `1 token`, `2 tokens`: a count with its noun, for messages a person reads.
package func counted(_ count: some BinaryInteger, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}
