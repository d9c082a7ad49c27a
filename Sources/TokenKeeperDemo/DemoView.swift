import Foundation
import TokenKeeper

/// The demo's live view: narration lines as things happen, and the status under them.
///
/// On a terminal the status is a block of two lines redrawn in place once a second (cursor up,
/// clear to the end of the screen), with narration scrolling above it. Otherwise (a pipe, a log,
/// CI) everything is plain appended lines: the status every ``plainInterval``.
struct DemoView {
    static let plainInterval: Duration = .seconds(5)

    let interactive: Bool
    let duration: Duration
    private let write: @Sendable (String) -> Void
    /// Lines of the status block now on screen (interactive only).
    private var drawn = 0
    /// The second of the demo the last plain status line was printed in.
    private var lastPlainStatus: Int64?

    init(interactive: Bool, duration: Duration, write: @escaping @Sendable (String) -> Void) {
        self.interactive = interactive
        self.duration = duration
        self.write = write
    }

    /// Shows `narration` (each line stamped with `elapsed`) and the status.
    mutating func update(elapsed: Duration, narration: [String], status: DemoStatus) {
        let second = elapsed.wholeSeconds
        var text = erase()
        for line in narration { text += Self.stamp(elapsed) + " " + line + "\n" }
        if interactive {
            let block = statusBlock(elapsed: elapsed, status)
            text += block.joined(separator: "\n") + "\n"
            drawn = block.count
        } else if lastPlainStatus.map({ second - $0 >= Self.plainInterval.wholeSeconds }) ?? true {
            text += Self.stamp(elapsed) + " " + Self.statusLine(status) + "\n"
            lastPlainStatus = second
        }
        if !text.isEmpty { write(text) }
    }

    /// Prints lines that stay; on a terminal the status block comes back at the next
    /// ``update(elapsed:narration:status:)``.
    mutating func say(_ lines: [String], elapsed: Duration) {
        write(erase() + lines.map { Self.stamp(elapsed) + " " + $0 + "\n" }.joined())
    }

    /// The last status, left on screen as a plain line (the block is replaced by it).
    mutating func finish(elapsed: Duration, narration: [String], status: DemoStatus) {
        var text = erase()
        for line in narration { text += Self.stamp(elapsed) + " " + line + "\n" }
        text += Self.stamp(elapsed) + " " + Self.statusLine(status) + "\n"
        write(text)
    }

    /// On a terminal, takes the status block off the screen (and a `^C` the terminal echoed).
    private mutating func erase() -> String {
        guard interactive, drawn > 0 else { return "" }
        defer { drawn = 0 }
        return "\u{1B}[\(drawn)A\r\u{1B}[J"
    }

    private func statusBlock(elapsed: Duration, _ status: DemoStatus) -> [String] {
        let clock = "\(elapsed.wholeSeconds)s of \(DurationText.format(duration))"
        let counts = TokenState.allCases.map { "\($0.rawValue) \(status.counts[$0] ?? 0)" }
        return [
            "  " + clock.padding(toLength: 12, withPad: " ", startingAt: 0) + counts.joined(separator: "   "),
            "  " + String(repeating: " ", count: 12) + Self.activity(status).joined(separator: "   "),
        ]
    }

    /// One line: counts per state, refreshes and failures so far, the next refresh.
    static func statusLine(_ status: DemoStatus) -> String {
        let counts = TokenState.allCases.map { "\($0.rawValue) \(status.counts[$0] ?? 0)" }
        return counts.joined(separator: ", ") + "; " + activity(status).joined(separator: ", ")
    }

    private static func activity(_ status: DemoStatus) -> [String] {
        let next: String
        if let at = status.nextRefresh {
            next = at <= status.now ? "next refresh due now" : "next refresh in \(at.seconds(since: status.now))s"
        } else {
            next = "nothing left to refresh"
        }
        return ["refreshes \(status.refreshes)", "failed attempts \(status.failedAttempts)", next]
    }

    /// `[+12s]`.
    static func stamp(_ elapsed: Duration) -> String {
        "[+\(elapsed.wholeSeconds)s]"
    }
}
