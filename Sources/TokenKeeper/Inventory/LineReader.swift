import Foundation

/// Reads a file descriptor line by line in large chunks, holding one chunk and one line at a time.
package struct LineReader: ~Copyable {
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var finished = false
    /// The number of the line last returned, from 1.
    package private(set) var lineNumber = 0
    package let maximumLineLength: Int

    package init(descriptor: Int32, maximumLineLength: Int = 1 << 16) {
        self.descriptor = descriptor
        self.maximumLineLength = maximumLineLength
    }

    /// The next line without its newline (a trailing `\r` is dropped too), or nil at the end.
    package mutating func next() throws -> ArraySlice<UInt8>? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                guard newline - start <= maximumLineLength else { throw overlong() }
                var end = newline
                if end > start, buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = buffer[start..<end]
                start = newline + 1
                lineNumber += 1
                return line
            }
            if buffer.count - start > maximumLineLength { throw overlong() }
            if finished {
                guard start < buffer.count else { return nil }
                let line = buffer[start...]
                start = buffer.count
                lineNumber += 1
                return line
            }
            try fill()
        }
    }

    private func overlong() -> TokenKeeperError {
        TokenKeeperError(.invalidInput, "line \(lineNumber + 1) is longer than \(maximumLineLength) bytes")
    }

    private mutating func fill() throws {
        if start > 0 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        let chunk = 1 << 20
        let old = buffer.count
        buffer.reserveCapacity(old + chunk)
        buffer.append(contentsOf: repeatElement(0, count: chunk))
        let count = buffer.withUnsafeMutableBytes { raw in
            var result: Int
            repeat {
                result = read(descriptor, raw.baseAddress! + old, chunk)
            } while result < 0 && errno == EINTR
            return result
        }
        guard count >= 0 else {
            let reason = String(cString: strerror(errno))
            buffer.removeSubrange(old...)
            throw TokenKeeperError(.invalidInput, "cannot read the input: \(reason)")
        }
        buffer.removeSubrange((old + count)...)
        if count == 0 { finished = true }
    }
}
