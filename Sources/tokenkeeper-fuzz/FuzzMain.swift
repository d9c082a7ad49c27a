import Foundation

/// Runs one harness of ``Harness``: under libFuzzer in the fuzz build (`scripts/fuzz`), or over
/// the files named on the command line in a normal build, which replays a seed corpus or a
/// crashing input in a debugger without sanitizers.
///
/// `tokenkeeper-fuzz HARNESS [libFuzzer options] [CORPUS...]` in the fuzz build,
/// `tokenkeeper-fuzz HARNESS FILE|FOLDER...` otherwise.
@main
struct FuzzMain {
    static func main() {
        var arguments = CommandLine.arguments
        let named = arguments.count > 1 ? Harness(rawValue: arguments[1]) : nil
        if named != nil { arguments.remove(at: 1) }
        // libFuzzer's -fork, -merge and -minimize_crash start this binary again without the name.
        let variable = ProcessInfo.processInfo.environment[Harness.environmentVariable].flatMap(Harness.init)
        guard let harness = named ?? variable else {
            let names = Harness.allCases.map(\.rawValue).joined(separator: ", ")
            FileHandle.standardError.write(
                Data("usage: tokenkeeper-fuzz HARNESS ARGUMENTS... (HARNESS: \(names))\n".utf8)
            )
            exit(64)
        }
        setenv(Harness.environmentVariable, harness.rawValue, 1)
        Harness.selected = harness
        #if FUZZING
        exit(runLibFuzzer(arguments: arguments))
        #else
        exit(replay(harness, paths: Array(arguments.dropFirst())))
        #endif
    }

    /// Runs every file of `paths` (a folder's files, in name order) through `harness` once; a
    /// broken promise stops the process, so reaching the end means none was found.
    static func replay(_ harness: Harness, paths: [String]) -> Int32 {
        guard !paths.isEmpty else {
            FileHandle.standardError.write(Data("tokenkeeper-fuzz \(harness.rawValue): no input named\n".utf8))
            return 64
        }
        var count = 0
        for path in paths {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
                FileHandle.standardError.write(Data("tokenkeeper-fuzz: \(path) does not exist\n".utf8))
                return 66
            }
            let names =
                isFolder.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() : [""]
            for name in names {
                let file = name.isEmpty ? path : path + "/" + name
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                harness.run(Array(data))
                count += 1
            }
        }
        print("tokenkeeper-fuzz \(harness.rawValue): \(count) inputs replayed, no finding")
        return 0
    }
}
