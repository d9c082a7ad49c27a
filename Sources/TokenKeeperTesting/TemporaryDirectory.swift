import Foundation

/// A fresh folder under the system temp dir, removed when the value goes away.
package final class TemporaryDirectory: Sendable {
    package let path: String

    package init(_ prefix: String = "tokenkeeper-test") {
        let template = NSTemporaryDirectory() + "/\(prefix).XXXXXX"
        var bytes = Array(template.utf8CString)
        guard let created = mkdtemp(&bytes) else { fatalError("mkdtemp failed: \(errno)") }
        path = String(cString: created)
    }

    package func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
