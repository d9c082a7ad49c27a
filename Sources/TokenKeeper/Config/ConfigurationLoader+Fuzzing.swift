import Foundation

/// What the fuzzing harness (`tokenkeeper-fuzz config`) needs of the loader beyond `load`: the
/// names it reads and which of them are secret, and the unknown-key check on its own. Nothing in
/// the tool calls these.
extension ConfigurationLoader {
    /// Every environment variable of the configuration table.
    package static var environmentNamesForFuzzing: [String] { settings.map(\.environment) }

    /// The environment variables whose values must never reach a message.
    package static var secretEnvironmentNamesForFuzzing: Set<String> {
        Set(settings.filter(\.isSecret).map(\.environment))
    }

    /// Every YAML key of the configuration table, dotted.
    package static var keysForFuzzing: Set<String> { Set(settings.map(\.key)) }

    /// ``unknownKeys(in:)``, which `load` calls only once the file has parsed as YAML.
    package static func unknownKeysForFuzzing(in data: Data) throws -> [String] {
        try unknownKeys(in: data)
    }
}
