import Configuration
import Foundation
import Yams

/// The YAML config file: read within bounds (1 MiB, 16 levels of nesting), its mode checked,
/// its keys checked against the table.
extension ConfigurationLoader {
    /// The largest config file read: the real one is a few hundred bytes, and a bigger one
    /// (30 MB of comments took 22 s to parse) is a wrong path or an attack.
    static let maximumFileSize = 1 << 20
    /// The deepest nesting a config file may have: tokenkeeper's keys are two levels deep, and
    /// the parser's cost grows steeply with depth (5,000 levels: 9 s and 105 MB).
    static let maximumDepth = 16

    /// The YAML file's values for the keys of ``settings``, parsed synchronously: a command
    /// that reads a config file should not pay for starting the concurrency runtime.
    static func yamlProvider(path: String) throws -> (any ConfigProvider)? {
        // Read the file ourselves first so that a missing or unreadable file gets a plain sentence.
        guard FileManager.default.fileExists(atPath: path) else {
            throw TokenKeeperError(.configuration, "config file \(path) does not exist")
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw TokenKeeperError(.configuration, "config file \(path) is not readable (check its permissions)")
        }
        defer { close(descriptor) }
        guard case .success(let read) = FileSystem.readAll(descriptor, limit: maximumFileSize) else {
            throw TokenKeeperError(.configuration, "config file \(path) is not readable (check its permissions)")
        }
        guard let bytes = read else {
            throw TokenKeeperError(
                .configuration,
                "config file \(path) is larger than 1 MiB: it cannot be a tokenkeeper config file (is the path right?)"
            )
        }
        let data = Data(bytes)
        let text = String(decoding: data, as: UTF8.self)
        // The mode is checked on the descriptor the bytes come from, not on the path before.
        // A file that holds a secret follows the key file's rule; any other, the store's.
        try FileModes.check(descriptor: descriptor, path, holdsSecret(text) ? .secretConfig : .config)
        // A file whose every line is commented out (a packaged example) configures nothing.
        let meaningful = text.split(whereSeparator: \.isNewline).contains {
            let line = $0.trimmingCharacters(in: .whitespaces)
            return !line.isEmpty && !line.hasPrefix("#") && line != "---"
        }
        guard meaningful else { return nil }
        if let line = YAMLDepth.firstLine(in: text, deeperThan: maximumDepth) {
            throw TokenKeeperError(
                .configuration,
                "config file \(path) nests more than \(maximumDepth) levels deep (at line \(line)); "
                    + "its keys are at most two levels deep, as in sinch: key_id:"
            )
        }
        let secrets = Set(settings.filter(\.isSecret).map(\.key))
        let snapshot: YAMLSnapshot
        do {
            snapshot = try YAMLSnapshot(
                data: data.bytes,
                providerName: "config file",
                parsingOptions: .init(secretsSpecifier: .specific(secrets))
            )
        } catch YamlError.duplicatedKeysInMapping(let duplicates, let context) {
            throw TokenKeeperError(
                .configuration,
                "config file \(path): \(keyName(duplicates.first ?? "")) is given more than once (at line \(context.mark.line)); "
                    + "a YAML mapping holds each key once, and which value was meant cannot be known"
            )
        } catch {
            // The parser's message quotes the offending line, which may hold a secret: keep only
            // its position.
            let position = "\(error)".prefix { $0.isNumber || $0 == ":" }.split(separator: ":")
            let at = position.count >= 2 ? " (at line \(position[0]), column \(position[1]))" : ""
            throw TokenKeeperError(
                .configuration,
                "config file \(path) is not valid YAML with a mapping at the top\(at)"
            )
        }
        if let unknown = try? unknownKeys(in: data).first {
            throw TokenKeeperError(
                .configuration,
                "config file \(path): unknown key \(Echo.cut(unknown)) (a misspelt key would silently keep its default; "
                    + "the keys are listed in the README's configuration table)"
            )
        }
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        let legacy = AbsoluteConfigKey(ConfigKey(legacyDatabaseKey))
        if let value = try? snapshot.value(forKey: legacy, type: .string).value { values[legacy] = value }
        for setting in settings {
            let key = AbsoluteConfigKey(ConfigKey(setting.key))
            do {
                if let value = try snapshot.value(forKey: key, type: .string).value { values[key] = value }
            } catch {
                throw TokenKeeperError(
                    .configuration,
                    "config file \(path): \(setting.key) must be a single value, not a list or a mapping"
                )
            }
        }
        return InMemoryProvider(name: "config file", values: values)
    }

    /// A key the file gives twice, as a message names it: quoted when it is shaped like a key
    /// (a key can be anything, a secret pasted in the wrong place among them).
    private static func keyName(_ key: String) -> String {
        let shaped =
            key.count <= 64 && key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }
        return shaped ? "the key \(key)" : "a key"
    }

    /// The file's keys, dotted as swift-configuration reads them, that are not in ``settings``.
    /// Only names, never values: an unknown key may hold a secret.
    static func unknownKeys(in data: Data) throws -> [String] {
        guard case .mapping(let root) = try Yams.compose(yaml: String(decoding: data, as: UTF8.self)) else { return [] }
        let known = Set(settings.map(\.key) + [legacyDatabaseKey])
        let sections = Set(settings.compactMap { $0.key.split(separator: ".").first.map(String.init) })
        var unknown: [String] = []
        func walk(_ mapping: Node.Mapping, prefix: String) {
            for (key, value) in mapping {
                let name = prefix + (key.string ?? "\(key)")
                if case .mapping(let inner) = value, prefix.isEmpty, sections.contains(name) {
                    walk(inner, prefix: name + ".")
                } else if !known.contains(name) {
                    unknown.append(name)
                }
            }
        }
        walk(root, prefix: "")
        return unknown
    }
}
