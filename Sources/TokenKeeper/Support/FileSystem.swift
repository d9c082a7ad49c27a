import Foundation
import SystemPackage

/// The few file operations that need exact permissions.
package enum FileSystem {
    /// Creates the parent folder of `path` (0700) when it is missing.
    package static func createParentDirectory(of path: String) throws {
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
    /// `followingLinks` creates the file a dangling symlink names, 0600 too (`O_EXCL` alone
    /// refuses any symlink, and SQLite would then create the file with its default mode).
    @discardableResult
    package static func createPrivateFile(at path: String, followingLinks: Bool = false) throws -> Bool {
        var link = stat()
        let dangling = followingLinks && !exists(path) && lstat(path, &link) == 0 && link.st_mode & S_IFMT == S_IFLNK
        let descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (dangling ? 0 : O_EXCL), 0o600)
        if descriptor >= 0 {
            close(descriptor)
            return true
        }
        if errno == EEXIST { return false }
        let reason = String(cString: strerror(errno))
        throw TokenKeeperError(.database, "cannot create \(path): \(reason)")
    }

    package static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    /// Writes all of `bytes` to `descriptor`, through short writes and EINTR; the errno of a
    /// failed write otherwise.
    static func writeAll(_ bytes: [UInt8], to descriptor: Int32) -> Result<Void, Errno> {
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return .failure(Errno(rawValue: errno)) }
            written += count
        }
        return .success(())
    }

    /// Reads `descriptor` to its end, but never more than `limit + 1` bytes: nil when it holds
    /// more than `limit` (a file named by mistake must not be read whole), the errno on failure.
    static func readAll(_ descriptor: Int32, limit: Int) -> Result<[UInt8]?, Errno> {
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        var count = 0
        while count < bytes.count {
            let read = bytes[count...].withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if read < 0, errno == EINTR { continue }
            guard read >= 0 else { return .failure(Errno(rawValue: errno)) }
            if read == 0 { break }
            count += read
        }
        return .success(count <= limit ? Array(bytes[..<count]) : nil)
    }

    /// Creates `path` 0600 (never an existing file), writes `contents` and syncs it.
    package static func writeNewPrivateFile(_ path: String, contents: [UInt8]) throws {
        try createParentDirectory(of: path)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            let reason = String(cString: strerror(errno))
            throw TokenKeeperError(.configuration, "cannot create \(path): \(reason)")
        }
        defer { close(descriptor) }
        guard case .success = writeAll(contents, to: descriptor), fsync(descriptor) == 0 else {
            unlink(path)
            throw TokenKeeperError(.configuration, "cannot write \(path)")
        }
    }

    /// Syncs the folder holding `path`, so a rename in it survives a crash (best effort).
    package static func syncParentDirectory(of path: String) {
        let folder = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let descriptor = open(folder.isEmpty ? "/" : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }
}
