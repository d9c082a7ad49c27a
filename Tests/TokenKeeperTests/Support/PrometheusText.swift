import Foundation
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

/// Prometheus's own linter, `promtool check metrics` (scripts/bootstrap installs it).
enum Promtool {
    static let binary = "/usr/bin/promtool"
    static var installed: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    /// Lints a scrape's text: promtool's exit status and every finding it printed.
    static func checkMetrics(_ text: String) throws -> (status: Int32, findings: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["check", "metrics"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        // Written from another thread: a large scrape would fill the pipe while promtool's findings fill the other.
        let writer = Thread {
            input.fileHandleForWriting.write(Data(text.utf8))
            try? input.fileHandleForWriting.close()
        }
        writer.start()
        let findings = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, findings)
    }
}
