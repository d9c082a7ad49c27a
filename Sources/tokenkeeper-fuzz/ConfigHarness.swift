import Foundation
import TokenKeeper

/// `config`: the input is an environment, an empty line, then a YAML config file.
///
/// Lines up to the first empty line are `NAME=value` variables, or `--key=value` command-line
/// flags by YAML key; the rest is written to a file the loader reads (no empty line: no file).
///
/// Promises: `load` throws nothing but a configuration error; what it returns passes the checks
/// the tool relies on later; no message changes when a secret variable's value does (none quotes
/// it); `unknownKeys(in:)` never names a key of the table.
enum ConfigHarness {
    /// How a load ended, for comparing two of them.
    enum Outcome: Equatable {
        case loaded
        case refused(String)
    }

    /// One file per process, so that harnesses running side by side do not share it.
    static let path =
        (ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp") + "/tokenkeeper-fuzz-config-\(getpid()).yaml"

    /// Loads the input's configuration, and again with its secrets masked, to compare.
    static func run(_ input: [UInt8]) {
        let (environment, flags, yaml) = split(input)
        if let yaml { write(yaml) }
        defer { if yaml != nil { unlink(path) } }
        let file = yaml == nil ? nil : path
        let outcome = load(flags: flags, file: file, environment: environment)

        // The loader never checks a secret's text, only whether it is blank: replacing every
        // character that is not blank changes nothing, unless a message quotes the secret.
        var masked = environment
        for name in ConfigurationLoader.secretEnvironmentNamesForFuzzing {
            guard let value = environment[name] else { continue }
            masked[name] = String(
                String.UnicodeScalarView(value.unicodeScalars.map { CharacterSet.whitespaces.contains($0) ? $0 : "x" })
            )
        }
        if masked != environment {
            let other = load(flags: flags, file: file, environment: masked)
            require(other == outcome, "a secret's value changed the outcome: \(outcome) became \(other)")
        }

        if let yaml, let keys = try? ConfigurationLoader.unknownKeysForFuzzing(in: Data(yaml)) {
            let known = ConfigurationLoader.keysForFuzzing
            require(!keys.contains(where: known.contains), "unknownKeys named a known key among \(keys)")
        }
    }

    /// Loads once; traps on an error that is not the loader's own, or on a configuration that the
    /// commands would trip over later.
    static func load(flags: [String: String], file: String?, environment: [String: String]) -> Outcome {
        let configuration: TokenKeeperConfiguration
        do {
            configuration = try ConfigurationLoader.load(flags: flags, configFile: file, environment: environment)
        } catch let error as TokenKeeperError {
            require(error.code == .configuration, "load threw \(error.code), not configuration: \(error)")
            return .refused(error.message)
        } catch {
            require(false, "load threw \(type(of: error)), not TokenKeeperError: \(error)")
            return .refused("")
        }
        let policy = configuration.policy
        require((try? policy.validate()) != nil, "load returned a policy that does not validate: \(policy)")
        require(
            configuration.httpTimeout > .zero
                && configuration.httpTimeout <= TokenKeeperConfiguration.maximumHTTPTimeout,
            "load returned http.timeout \(configuration.httpTimeout)"
        )
        require((1...1_024).contains(configuration.limits.concurrency), "load returned limits.concurrency out of range")
        let rate = configuration.limits.rate
        require(rate > 0 && rate.isFinite, "load returned limits.rate \(rate)")
        for url in [configuration.sinch.provisioningURL, configuration.sinch.authURL] {
            require(url.hasPrefix("http://") || url.hasPrefix("https://"), "load returned the URL \(url)")
        }
        return .loaded
    }

    /// Replaces the file's bytes in place: no temporary file, no rename.
    static func write(_ bytes: [UInt8]) {
        let file = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        require(file >= 0, "cannot open \(path): \(String(cString: strerror(errno)))")
        let written = bytes.withUnsafeBytes { Foundation.write(file, $0.baseAddress, $0.count) }
        close(file)
        require(written == bytes.count, "wrote \(written) of \(bytes.count) bytes to \(path)")
    }

    /// The environment, the flags and the file's bytes of an input.
    static func split(_ input: [UInt8]) -> ([String: String], [String: String], [UInt8]?) {
        var environment: [String: String] = [:]
        var flags: [String: String] = [:]
        var start = 0
        while start < input.count {
            let end = input[start...].firstIndex(of: UInt8(ascii: "\n")) ?? input.count
            let line = String(decoding: input[start..<end], as: UTF8.self)
            start = end + 1
            if line.isEmpty { return (environment, flags, Array(input[min(start, input.count)...])) }
            guard let equals = line.firstIndex(of: "=") else { continue }
            let name = String(line[..<equals])
            let value = String(line[line.index(after: equals)...])
            // The file is the input's: a variable must not send the loader to another one.
            if name == "TOKENKEEPER_CONFIG" { continue }
            if name.hasPrefix("--") {
                flags[String(name.dropFirst(2))] = value
            } else {
                environment[name] = value
            }
        }
        return (environment, flags, nil)
    }
}
