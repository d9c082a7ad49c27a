import Foundation
import Testing

/// The repository's root folder (this file is in Tests/TokenKeeperTests/Unit/).
private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// The boundaries of <doc:Architecture#Targets>, read off the tree: what the domain may import,
/// what it may depend on, and the house rules every file keeps.
@Suite struct ArchitectureTests {
    /// Modules only the store, the server, the demo and the tests may use.
    static let outsideTheDomain = ["GRDB", "Hummingbird", "NIO", "FakeSinch"]

    static func swiftFiles(under folder: String) throws -> [String] {
        let root = repository + "/" + folder
        let paths = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []
        return paths.filter { $0.hasSuffix(".swift") }.map { root + "/" + $0 }
    }

    @Test func theDomainImportsNoSQLDriverHTTPServerOrFake() throws {
        let files = try Self.swiftFiles(under: "Sources/TokenKeeper")
        try #require(files.count > 50, "the domain's sources were not found under \(repository)")
        var offending: [String] = []
        for file in files {
            for line in try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n") {
                let words = line.split(separator: " ")
                guard let module = words.firstIndex(of: "import").map({ words.index(after: $0) }),
                    module < words.endIndex,
                    Self.outsideTheDomain.contains(where: { words[module].hasPrefix($0) })
                else { continue }
                offending.append("\(file.dropFirst(repository.count + 1)): \(line)")
            }
        }
        #expect(offending.isEmpty, "\(offending)")
    }

    @Test func packageSwiftGivesTheDomainNoDependencyOnThem() throws {
        let manifest = try String(contentsOfFile: repository + "/Package.swift", encoding: .utf8)
        let start = try #require(manifest.range(of: "name: \"TokenKeeper\","))
        let end = try #require(manifest[start.upperBound...].range(of: "swiftSettings:"))
        let dependencies = manifest[start.upperBound..<end.lowerBound]
        for module in ["GRDB", "hummingbird", "swift-nio", "FakeSinch"] {
            #expect(!dependencies.contains(module), "the TokenKeeper target depends on \(module)")
        }
    }

    @Test func noSwiftFileIsOverFourHundredLines() throws {
        let files = try Self.swiftFiles(under: "Sources") + Self.swiftFiles(under: "Tests")
        let long = try files.filter { try String(contentsOfFile: $0, encoding: .utf8).utf8.count { $0 == 0x0A } > 400 }
        #expect(long.isEmpty, "\(long)")
    }

    @Test func nothingPointsOutsideTheRepositoryForItsDesign() throws {
        // Spelt in two parts, so this file does not match itself.
        let outside = ".." + "/shared"
        var files = try Self.swiftFiles(under: "Sources") + Self.swiftFiles(under: "Tests")
        let others =
            ["README.md", "Package.swift"]
            + (FileManager.default.enumerator(atPath: repository + "/scripts")?
                .compactMap { $0 as? String }.map { "scripts/" + $0 } ?? [])
        files += others.map { repository + "/" + $0 }
        files +=
            (FileManager.default.enumerator(atPath: repository + "/Sources")?.compactMap { $0 as? String }
                .filter { $0.hasSuffix(".md") }.map { repository + "/Sources/" + $0 } ?? [])
        let pointing = files.filter { (try? String(contentsOfFile: $0, encoding: .utf8))?.contains(outside) == true }
        #expect(pointing.isEmpty, "\(pointing)")
    }
}
