import Testing

/// Reads the samples of one metric out of Prometheus text, for tests of `/metrics`.
enum PrometheusText {
    struct Sample: Equatable {
        var labels: [String: String]
        var value: Double
    }

    /// The `name{labels} value` lines of `text`, keyed by their `id` label; an id that appears
    /// twice is an issue of the calling test.
    static func samples(_ name: String, in text: String) -> [String: Sample] {
        var samples: [String: Sample] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") {
            guard let close = line.lastIndex(of: "}"),
                let value = Double(line[line.index(after: close)...].drop { $0 == " " })
            else { continue }
            let labels = Self.labels(line[line.index(line.startIndex, offsetBy: name.count + 1)..<close])
            guard let id = labels["id"] else { continue }
            #expect(samples[id] == nil, "\(id) appears twice in \(name)")
            samples[id] = Sample(labels: labels, value: value)
        }
        return samples
    }

    /// `key="value",...` with the text format's escapes (`\\`, `\"`, `\n`) undone.
    static func labels(_ text: Substring) -> [String: String] {
        var labels: [String: String] = [:]
        var rest = text[...]
        while let equals = rest.firstIndex(of: "=") {
            let key = String(rest[..<equals]).trimmingPrefix(",")
            var value = ""
            var index = rest.index(equals, offsetBy: 2)  // past `="`
            while index < rest.endIndex, rest[index] != "\"" {
                if rest[index] == "\\", rest.index(after: index) < rest.endIndex {
                    index = rest.index(after: index)
                    value.append(rest[index] == "n" ? "\n" : rest[index])
                } else {
                    value.append(rest[index])
                }
                index = rest.index(after: index)
            }
            labels[String(key)] = value
            rest = index < rest.endIndex ? rest[rest.index(after: index)...] : ""
        }
        return labels
    }
}
