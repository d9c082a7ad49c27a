/// How deep a YAML text nests, found in one pass over its lines before a parser sees it: the
/// parser's time and memory grow steeply with depth, and tokenkeeper's keys are two levels deep.
///
/// It counts what makes a level: a line indented deeper than the one it belongs to, a `- ` that
/// opens a sequence entry, and a `[` or `{` that opens a flow collection (outside quotes, comments
/// and block scalars). It may count a level too many in odd corners, which only matters far above
/// any real config's depth.
enum YAMLDepth {
    private static let space = UInt8(ascii: " ")
    private static let tab = UInt8(ascii: "\t")

    /// The number (from 1) of the first line at which `text` is nested deeper than `limit`.
    static func firstLine(in text: String, deeperThan limit: Int) -> Int? {
        var indents: [Int] = []
        var flow = 0
        var quote: UInt8?
        // The indentation of the line that opened a block scalar (`|`, `>`): deeper lines are text.
        var blockScalar: Int?
        var number = 0
        for line in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            let bytes = Array(line)
            var index = 0
            if flow == 0, quote == nil {
                while index < bytes.count, bytes[index] == space || bytes[index] == tab { index += 1 }
                // A blank line or a comment changes no level.
                guard index < bytes.count, bytes[index] != UInt8(ascii: "#"), bytes[index] != UInt8(ascii: "\r") else {
                    continue
                }
                if let parent = blockScalar {
                    if index > parent { continue }
                    blockScalar = nil
                }
                while let last = indents.last, last >= index { indents.removeLast() }
                indents.append(index)
            }
            let lineIndent = indents.last ?? 0
            var depth = indents.count + flow
            var valueStart = true
            var lastWord = (start: 0, end: 0)
            while index < bytes.count {
                let byte = bytes[index]
                defer { index += 1 }
                if let open = quote {
                    if byte == UInt8(ascii: "\\"), open == UInt8(ascii: "\"") {
                        index += 1
                    } else if byte == open {
                        quote = nil
                    }
                    continue
                }
                let afterBlank = index == 0 || bytes[index - 1] == space || bytes[index - 1] == tab
                let beforeBlank =
                    index + 1 == bytes.count || [space, tab, UInt8(ascii: "\r")].contains(bytes[index + 1])
                if byte == space || byte == tab || byte == UInt8(ascii: "\r") { continue }
                if afterBlank { lastWord.start = index }
                lastWord.end = index + 1
                let opensValue = valueStart || flow > 0
                if byte == UInt8(ascii: "#"), afterBlank {
                    lastWord.end = lastWord.start
                    index = bytes.count  // a comment runs to the end of the line
                } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'"), opensValue {
                    quote = byte
                } else if byte == UInt8(ascii: "-"), valueStart, flow == 0, beforeBlank {
                    depth += 1
                } else if byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{"), opensValue {
                    flow += 1
                    depth += 1
                } else if byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}"), flow > 0 {
                    flow -= 1
                } else if byte == UInt8(ascii: ":"), beforeBlank {
                    valueStart = true
                } else if byte == UInt8(ascii: ",") {
                    valueStart = flow > 0
                } else {
                    valueStart = false
                }
                if depth > limit { return number }
            }
            if depth > limit { return number }
            // `key: |`, `- >-`: the lines below, deeper than this one, are text.
            let word = bytes[lastWord.start..<max(lastWord.start, lastWord.end)]
            if quote == nil, flow == 0, let first = word.first,
                first == UInt8(ascii: "|") || first == UInt8(ascii: ">"),
                word.dropFirst().allSatisfy({
                    (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == 43 || $0 == 45
                })
            {
                blockScalar = lineIndent
            }
        }
        return nil
    }
}
