import Foundation

/// The few file operations that need exact permissions.
enum FileSystem {
    /// Creates the parent folder of `path` (0700) when it is missing.
    static func createParentDirectory(of path: String) throws {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        let parent = String(path[..<slash])
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw TokenKeeperError(.database, "\(parent) exists and is not a folder")
            }
            return
        }
        do {
            try FileManager.default.createDirectory(
                atPath: parent,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        } catch {
            throw TokenKeeperError(.database, "cannot create folder \(parent): \(error.localizedDescription)")
        }
    }

    /// Creates an empty file 0600 unless it exists; returns whether it created one.
    @discardableResult
    static func createPrivateFile(at path: String) throws -> Bool {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor >= 0 {
            close(descriptor)
            return true
        }
        if errno == EEXIST { return false }
        let reason = String(cString: strerror(errno))
        throw TokenKeeperError(.database, "cannot create \(path): \(reason)")
    }

    static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }
}
