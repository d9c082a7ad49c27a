import Foundation
import Testing
import TokenKeeperTesting

/// The repository's root folder, which holds Tests/TokenKeeperTests/CLI/ (this file's folder).
private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// The files operators install from scripts/: the systemd units, the example configuration, the
/// install script, the shell completions the install script generates, and the Prometheus rules
/// and Grafana dashboard of scripts/monitoring (promtool checks and tests the rules in
/// scripts/test; PrometheusAlertsCLITests runs them in a real Prometheus).
@Suite struct OperationsFilesTests {
    private static func scripts(_ path: String) -> String { repository + "/scripts/" + path }

    private static let units = ["tokenkeeper.service", "tokenkeeper-run-once.service", "tokenkeeper-run-once.timer"]

    /// The YAML keys of the configuration table (TokenKeeper.docc/CLIContract.md).
    private static let contractKeys = [
        "database", "master_key_file",
        "sinch.key_id", "sinch.key_secret", "sinch.auth", "sinch.provisioning_url", "sinch.auth_url",
        "policy.lifetime", "policy.renew_before", "policy.min_age", "policy.jitter",
        "policy.backoff_min", "policy.backoff_max",
        "limits.concurrency", "limits.rate", "limits.exchange_store_wait",
        "http.timeout",
        "hooks.deploy", "hooks.failure", "hooks.reauth", "hooks.recovered",
    ]

    /// Keys the loader reads beyond the contract's table.
    private static let loaderOnlyKeys = ["sinch.ca_bundle"]

    private static let systemdAnalyze = ExternalCommand.find("systemd-analyze")

    // MARK: systemd units

    @Test(.enabled(if: systemdAnalyze != nil, "systemd-analyze is not installed (Debian: apt-get install systemd)"))
    func systemdUnitsPassSystemdAnalyzeVerify() throws {
        let directory = TemporaryDirectory("tokenkeeper-units")
        // verify checks that ExecStart's binary exists and is executable: point the units at the
        // binary under test instead of /usr/local/bin, where nothing is installed.
        let binary = CLI.locateExecutable()
        for unit in Self.units {
            let text = try String(contentsOfFile: Self.scripts("systemd/" + unit), encoding: .utf8)
            #expect(unit.hasSuffix(".timer") || text.contains("ExecStart=/usr/local/bin/tokenkeeper "))
            try CLIFiles.write(
                text.replacingOccurrences(of: "/usr/local/bin/tokenkeeper", with: binary),
                to: directory.file(unit)
            )
        }

        // --man=no: Documentation=man:tokenkeeper(1) names a page only scripts/install puts in place.
        let result = try ExternalCommand.run(
            try #require(Self.systemdAnalyze),
            ["verify", "--man=no"] + Self.units.map(directory.file),
            in: directory.path
        )

        // verify exits 0 after mere warnings ("Unknown key ..., ignoring"), so those must not
        // appear either. Lines about other units (the system's targets) are not ours to judge.
        let complaints = result.stderr.split(separator: "\n").filter { $0.contains("tokenkeeper") }
        #expect(result.status == 0, "systemd-analyze verify exited \(result.status): \(result.stderr)")
        #expect(complaints.isEmpty, "systemd-analyze verify: \(complaints.joined(separator: "\n"))")
    }

    @Test func unitsRunTheDocumentedCommandsWithNoSecretOnTheCommandLine() throws {
        let daemon = try String(contentsOfFile: Self.scripts("systemd/tokenkeeper.service"), encoding: .utf8)
        let runOnce = try String(contentsOfFile: Self.scripts("systemd/tokenkeeper-run-once.service"), encoding: .utf8)
        let timer = try String(contentsOfFile: Self.scripts("systemd/tokenkeeper-run-once.timer"), encoding: .utf8)

        #expect(daemon.contains("\nExecStart=/usr/local/bin/tokenkeeper daemon --metrics 127.0.0.1:9464\n"))
        #expect(runOnce.contains("\nExecStart=/usr/local/bin/tokenkeeper run-once\n"))
        #expect(runOnce.contains("\nType=oneshot\n"))
        #expect(timer.contains("\nPersistent=true\n"))
        for unit in [daemon, runOnce] {
            #expect(unit.contains("\nEnvironmentFile=/etc/tokenkeeper/credentials\n"))
            // The master key as a credential: the name tokenkeeper looks for in $CREDENTIALS_DIRECTORY.
            #expect(unit.contains("\nLoadCredential=tokenkeeper.key:/var/lib/tokenkeeper/tokenkeeper.key\n"))
            #expect(!unit.contains("TOKENKEEPER_MASTER_KEY="))
            #expect(unit.contains("\nEnvironment=TOKENKEEPER_DB=/var/lib/tokenkeeper/tokenkeeper.sqlite\n"))
            #expect(unit.contains("\nMemoryDenyWriteExecute=yes\n"))
            let commandLines = unit.split(separator: "\n").filter { $0.hasPrefix("Exec") }
            #expect(!commandLines.contains { $0.contains("SINCH_") || $0.contains("--key") }, "\(commandLines)")
        }
    }

    // MARK: example configuration

    @Test func exampleConfigLoadsAsShipped() async throws {
        var sandbox = try await CLISandbox(initialized: false)
        sandbox.cli.environment["TOKENKEEPER_CONFIG"] = Self.scripts("tokenkeeper.example.yaml")

        try await sandbox.succeed("init")
        #expect(try await sandbox.succeed("list", "--json").stdout == "[]\n")
    }

    @Test func exampleConfigLoadsWithEverySettingUncommented() async throws {
        let sandbox = try await uncommentedExampleSandbox()

        try await sandbox.succeed("init")
        #expect(try await sandbox.succeed("list", "--json").stdout == "[]\n")
    }

    @Test func exampleConfigShowsEveryKeyOfTheContractAndNoOther() throws {
        let keys = ExampleConfig.settings(in: try ExampleConfig.uncommented()).map(\.key)

        let missing = Set(Self.contractKeys).subtracting(keys)
        #expect(missing.isEmpty, "missing from the example: \(missing.sorted())")
        // Nothing beyond the contract (and the CA bundle): `master_key`, which the loader also
        // reads, is a secret an example must not invite into a file.
        let unknown = Set(keys).subtracting(Self.contractKeys + Self.loaderOnlyKeys)
        #expect(unknown.isEmpty, "keys the loader does not read: \(unknown.sorted())")
        #expect(keys.count == Set(keys).count, "a key appears twice: \(keys)")
    }

    /// Proves each example key is spelt and nested the way the loader reads it: a bad value under
    /// that exact key must be refused, naming the key.
    @Test(arguments: [
        "sinch.auth", "sinch.provisioning_url", "sinch.auth_url",
        "policy.lifetime", "policy.renew_before", "policy.min_age", "policy.jitter",
        "policy.backoff_min", "policy.backoff_max",
        "limits.concurrency", "limits.rate", "limits.exchange_store_wait",
        "http.timeout",
    ])
    func exampleConfigKeyIsTheOneTheLoaderReads(key: String) async throws {
        let text: String = try #require(
            ExampleConfig.replacingValue(of: key, with: "not-valid", in: try ExampleConfig.uncommented()),
            "\(key) is not in the example"
        )
        let sandbox = try await uncommentedExampleSandbox(text: text)

        let result = try await sandbox.run("list", "--json")

        #expect(result.status == 64, "list exited \(result.status): \(result.stderr)")
        #expect(result.stderr.contains(key), "stderr: \(result.stderr)")
    }

    /// A sandbox whose config file is the example with every setting uncommented; its database
    /// and master key file stay in the sandbox (the environment wins over the file's paths).
    private func uncommentedExampleSandbox(text: String? = nil) async throws -> CLISandbox {
        var sandbox = try await CLISandbox(initialized: false)
        let config = sandbox.directory.file("tokenkeeper.yaml")
        try CLIFiles.write(try text ?? ExampleConfig.uncommented(), to: config)
        sandbox.cli.environment["TOKENKEEPER_CONFIG"] = config
        sandbox.cli.environment["TOKENKEEPER_MASTER_KEY_FILE"] = sandbox.keyFilePath
        return sandbox
    }

    // MARK: monitoring (scripts/monitoring)

    @Test func dashboardIsGrafanaJSONOnADatasourceVariable() throws {
        let dashboard = try CLIJSON.parse(try Monitoring.text("tokenkeeper-dashboard.json"))

        #expect(dashboard["schemaVersion"] == .integer(39))
        #expect(dashboard["uid"]?.string == "tokenkeeper")
        let variables = dashboard["templating"]?["list"]?.array ?? []
        let source = try #require(variables.first { $0["name"]?.string == "datasource" }, "no datasource variable")
        #expect(source["type"]?.string == "datasource")
        #expect(source["query"]?.string == "prometheus")
        let panels = try #require(dashboard["panels"]?.array)
        #expect(panels.count >= 8)
        var ids = Set<Int>()
        for panel in panels {
            let title = panel["title"]?.string ?? "?"
            if case .integer(let id) = panel["id"] { ids.insert(id) } else { Issue.record("\(title) has no id") }
            // Every query goes to the variable's Prometheus, never to a data source of the author's.
            let targets = panel["targets"]?.array ?? []
            #expect(!targets.isEmpty, "\(title) has no query")
            for item in [panel] + targets {
                #expect(item["datasource"]?["uid"]?.string == "${datasource}", "\(title)'s data source")
            }
            #expect(targets.allSatisfy { !($0["expr"]?.string ?? "").isEmpty }, "\(title) has an empty query")
        }
        #expect(ids.count == panels.count, "panel ids are not unique")
    }

    /// A metric renamed in the code and the contract, but not in the shipped monitoring, fails here.
    @Test(arguments: ["tokenkeeper-dashboard.json", "tokenkeeper-alerts.yml", "tokenkeeper-alerts.test.yml"])
    func monitoringUsesOnlyMetricsOfTheContract(file: String) throws {
        let contract = try Monitoring.contractMetrics()
        let used = Set(try Monitoring.text(file).matches(of: /tokenkeeper_[a-z_]+/).map { String($0.output) })

        #expect(!used.isEmpty)
        let unknown = used.filter { name in
            if contract[name] != nil { return false }
            // A histogram's series: NAME_bucket, NAME_sum, NAME_count.
            guard let suffix = ["_bucket", "_sum", "_count"].first(where: name.hasSuffix) else { return true }
            return contract[String(name.dropLast(suffix.count))]?.contains("histogram") != true
        }
        #expect(unknown.isEmpty, "\(file) uses metrics CLIContract.md does not list: \(unknown.sorted())")
    }

    @Test func everyAlertHasASeverityAnnotationsAndARunbookSectionInOperations() throws {
        let rules = try Monitoring.text("tokenkeeper-alerts.yml")
        let operations = try String(
            contentsOfFile: repository + "/Sources/TokenKeeper/TokenKeeper.docc/Operations.md",
            encoding: .utf8
        )
        let section = try #require(
            operations.split(separator: "\n## Alerts and runbooks\n").dropFirst().first,
            "Operations.md has no section Alerts and runbooks"
        )
        let headings = Set(
            section.split(separator: "\n").prefix { !$0.hasPrefix("## ") }.filter { $0.hasPrefix("### ") }
                .map { String($0.dropFirst(4)) }
        )
        #expect(rules.contains("\n  - name: tokenkeeper\n"))

        let chunks = rules.split(separator: "\n      - alert: ").dropFirst()
        #expect(Set(chunks.map { String($0.prefix { $0 != "\n" }) }) == Set(Monitoring.alerts))
        for chunk in chunks {
            let name = String(chunk.prefix { $0 != "\n" })
            #expect(chunk.contains(/\n          severity: (warning|critical)\n/), "\(name)'s severity")
            for key in ["summary", "description"] {
                #expect(chunk.contains("\n          \(key): "), "\(name) has no \(key)")
            }
            #expect(chunk.contains("runbook: 'Operations, \"Alerts and runbooks\" > \"\(name)\""), "\(name)'s runbook")
            #expect(headings.contains(name), "Operations.md has no ### \(name) under Alerts and runbooks")
        }
    }

    // MARK: completions and the install script

    @Test(arguments: ["bash", "zsh", "fish"])
    func completionScriptNamesTheSubcommands(shell: String) async throws {
        let sandbox = try await CLISandbox(initialized: false)

        let result = try await sandbox.succeed("--generate-completion-script", shell)

        for subcommand in ["run-once", "daemon", "check", "audit", "init"] {
            #expect(result.stdout.contains(subcommand), "no \(subcommand) in the \(shell) completions")
        }
    }

    @Test func installScriptPrintsItsHelp() throws {
        let result = try ExternalCommand.run(Self.scripts("install"), ["--help"], in: repository)

        #expect(result.status == 0, "scripts/install --help exited \(result.status): \(result.stderr)")
        for option in ["--prefix", "--destdir", "--no-build", "--systemd-dir", "--help"] {
            #expect(result.stdout.contains(option), "--help does not mention \(option)")
        }
    }

    @Test func installScriptRefusesAnUnknownOptionAsAUsageError() throws {
        let result = try ExternalCommand.run(Self.scripts("install"), ["--prefx", "/opt"], in: repository)

        #expect(result.status == 64)
        #expect(result.stderr.contains("--prefx"))
    }
}

/// The shipped Prometheus rules and Grafana dashboard (scripts/monitoring) and the metrics they
/// may name: the table of TokenKeeper.docc/CLIContract.md, "Metrics and health".
private enum Monitoring {
    static let alerts = [
        "TokenKeeperTokenExpiringSoon", "TokenKeeperTokenExpiringCritical", "TokenKeeperTokenNeedsReauth",
        "TokenKeeperTokenExpired", "TokenKeeperRefreshesFailing", "TokenKeeperNoRefresherPass",
        "TokenKeeperDaemonDown",
    ]

    static func text(_ file: String) throws -> String {
        try String(contentsOfFile: repository + "/scripts/monitoring/" + file, encoding: .utf8)
    }

    /// Each metric of the contract's table, by name, with its row (which says "histogram" for one).
    static func contractMetrics() throws -> [String: String] {
        let contract = try String(
            contentsOfFile: repository + "/Sources/TokenKeeper/TokenKeeper.docc/CLIContract.md",
            encoding: .utf8
        )
        let section = try #require(contract.split(separator: "\n## Metrics and health\n").dropFirst().first)
        var metrics: [String: String] = [:]
        for line in section.split(separator: "\n").prefix(while: { !$0.hasPrefix("## ") }) {
            guard let match = line.prefixMatch(of: /\| `(tokenkeeper_[a-z_]+)[{`]/) else { continue }
            metrics[String(match.output.1)] = String(line)
        }
        #expect(metrics.count >= 6, "the metrics table of CLIContract.md: \(metrics.keys.sorted())")
        return metrics
    }
}

/// scripts/tokenkeeper.example.yaml, whose settings are commented out as `#key: value` (no space
/// after the `#`) while explanations read `# text`.
private enum ExampleConfig {
    static func uncommented() throws -> String {
        let text = try String(contentsOfFile: repository + "/scripts/tokenkeeper.example.yaml", encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            guard let match = line.wholeMatch(of: /(\s*)#([a-z_]+:.*)/) else { return String(line) }
            return String(match.output.1 + match.output.2)
        }.joined(separator: "\n")
    }

    /// Each setting's dotted key (`policy.lifetime`) and line number, in file order.
    static func settings(in text: String) -> [(key: String, line: Int)] {
        var section: String?
        var found: [(key: String, line: Int)] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard let match = line.wholeMatch(of: /(\s*)([a-z_]+):(.*)/) else { continue }
            let name = String(match.output.2)
            if match.output.1.isEmpty {
                let value = match.output.3.trimmingCharacters(in: .whitespaces)
                section = value.isEmpty ? name : nil
                if !value.isEmpty { found.append((name, number)) }
            } else if let section {
                found.append((section + "." + name, number))
            }
        }
        return found
    }

    /// `text` with the value of `key` replaced, or nil when `key` is not set in it.
    static func replacingValue(of key: String, with value: String, in text: String) -> String? {
        guard let line = settings(in: text).first(where: { $0.key == key })?.line else { return nil }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let indentation = String(lines[line].prefix { $0 == " " })
        lines[line] = indentation + String(key.split(separator: ".").last!) + ": " + value
        return lines.joined(separator: "\n")
    }
}

/// Runs a program other than tokenkeeper (systemd-analyze, the install script), its output
/// collected in files so that neither pipe can fill up and stall it.
private enum ExternalCommand {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    static func run(_ executable: String, _ arguments: [String], in directory: String) throws -> Result {
        let outputs = TemporaryDirectory("tokenkeeper-command")
        let stdout = outputs.file("stdout")
        let stderr = outputs.file("stderr")
        _ = FileManager.default.createFile(atPath: stdout, contents: nil)
        _ = FileManager.default.createFile(atPath: stderr, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: stdout)
        process.standardError = FileHandle(forWritingAtPath: stderr)
        try process.run()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: CLIFiles.bytes(stdout) ?? Data(), as: UTF8.self),
            stderr: String(decoding: CLIFiles.bytes(stderr) ?? Data(), as: UTF8.self)
        )
    }
}
