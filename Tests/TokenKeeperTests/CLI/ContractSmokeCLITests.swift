import FakeSinch
import Foundation
import SinchProvisioning
import Testing
import TokenKeeperTesting

/// Every command of the contract at least once, its exit code and the shape of its output, on
/// both stores: a smoke, not the behaviour (each command's own suite has that). scripts/test runs
/// it a second time over the release binary that scripts/install ships (`TOKENKEEPER_BIN`), so a
/// defect of the optimized build alone (a `probe` that returned nothing) cannot ship.
@Suite struct ContractSmokeCLITests {
    /// Runs `arguments`, which must exit `status`; its stdout. Nothing it printed holds a token.
    @discardableResult
    private func expect(
        _ sandbox: CLISandbox,
        _ arguments: [String],
        exits status: Int32 = 0,
        stdin: String? = nil,
        secrets: [String],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> String {
        let result = try await sandbox.cli.run(arguments, stdin: stdin)
        #expect(
            result.status == status,
            "tokenkeeper \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)",
            sourceLocation: sourceLocation
        )
        for secret in secrets where arguments.first != "get" {
            #expect(!result.everything.contains(secret), "\(arguments) printed a token", sourceLocation: sourceLocation)
        }
        return result.stdout
    }

    private func json(_ text: String) throws -> CLIJSON { try CLIJSON.parse(text) }

    @Test(arguments: TestBackend.all)
    func everyCommandAnswersWithItsContractedShape(_ backend: TestBackend) async throws {
        try await SinchHarness.with { sinch in
            let sandbox = try await CLISandbox.make(sinch: sinch, backend: backend)
            let tokens = (0..<3).map { _ in sinch.fake.issueToken() }
            var secrets = tokens

            // add, add --code-stdin, import
            var ids: [String] = []
            for token in tokens.prefix(2) {
                let id = try await expect(sandbox, ["add", "--project", "p1"], stdin: token, secrets: secrets)
                ids.append(id.trimmingCharacters(in: .newlines))
            }
            let code = sinch.fake.issueCode()
            secrets.append(code)
            let exchanged = try await expect(
                sandbox,
                ["add", "--code-stdin", "--project", "p1", "--label", "Acme"],
                stdin: code,
                secrets: secrets
            )
            ids.append(exchanged.trimmingCharacters(in: .newlines))
            let lines = sandbox.directory.file("import.jsonl")
            try CLIFiles.write("{\"token\":\"\(tokens[2])\",\"project\":\"p2\"}\n", to: lines)
            let imported = try json(try await expect(sandbox, ["import", "--json", lines], secrets: secrets))
            #expect(imported["imported"] == .integer(1))
            for id in ids { #expect(id.wholeMatch(of: /tk_[0-9a-f]{12}/) != nil, "not an id: \(id)") }

            // list, show, get
            let listed = try #require(try json(try await expect(sandbox, ["list", "--json"], secrets: secrets)).array)
            #expect(listed.count == 4)
            #expect(try await expect(sandbox, ["list"], secrets: secrets).hasPrefix("ID "))
            let shown = try json(try await expect(sandbox, ["show", ids[0], "--json"], secrets: secrets))
            #expect(shown["id"]?.string == ids[0] && shown["state"]?.string == "active")
            #expect(try await expect(sandbox, ["get", ids[0]], secrets: secrets) == tokens[0] + "\n")

            // check, status
            let check = try await expect(sandbox, ["check"], secrets: secrets)
            #expect(check.hasPrefix("TOKENKEEPER OK"), "\(check)")
            let status = try json(try await expect(sandbox, ["status", "--json"], secrets: secrets))
            #expect(status["tokens"]?["total"] == .integer(4) && status["tokens"]?["stored"] == .integer(4))

            // probe: one token revoked at the fake is refused (exit 1); the rest accepted.
            sinch.fake.revoke(token: tokens[1])
            let probed = try json(try await expect(sandbox, ["probe", "--all", "--json"], exits: 1, secrets: secrets))
            #expect(probed["accepted"] == .integer(3) && probed["refused"] == .integer(1), "\(probed)")
            #expect(probed["tokens"]?.array?.count == 4)
            let again = try await expect(sandbox, ["probe", ids[0]], secrets: secrets)
            #expect(again.hasSuffix("probed 1: 1 accepted, 0 refused, 0 without an answer, 0 skipped\n"), "\(again)")

            // refresh, run-once (nothing due: the tokens are fresh)
            let refreshed = try json(
                try await expect(sandbox, ["refresh", ids[0], "--force", "--json"], secrets: secrets)
            )
            #expect(refreshed["refreshed"] == .integer(1), "\(refreshed)")
            let run = try json(try await expect(sandbox, ["run-once", "--json"], secrets: secrets))
            #expect(run["due"] == .integer(0) && run["failed"] == .integer(0), "\(run)")

            // wabas
            let wabas = try #require(
                try json(try await expect(sandbox, ["wabas", ids[2], "--json"], secrets: secrets)).array
            )
            #expect(wabas.first?["id"]?.string != nil)

            // key list and rotate
            #expect(try await expect(sandbox, ["key", "list"], secrets: secrets).hasPrefix("ID "))
            let rotated = try await expect(sandbox, ["key", "rotate"], secrets: secrets)
            #expect(rotated.contains("re-sealed 4 tokens"), "\(rotated)")

            // audit verify, audit head
            let verified = try await expect(sandbox, ["audit", "verify"], secrets: secrets)
            #expect(
                verified.hasPrefix("audit chain intact: ") && verified.hasSuffix("seal verified with the master key\n")
            )
            let head = try await expect(sandbox, ["audit", "head"], secrets: secrets)
            #expect(head.prefixMatch(of: /[0-9]+:[0-9a-f]{64}/) != nil, "\(head)")

            // copy into a new SQLite file
            let target = sandbox.directory.file("copy.sqlite")
            let copied = try await expect(sandbox, ["copy", "--to", target], secrets: secrets)
            #expect(copied.hasPrefix("copied 4 tokens and "), "\(copied)")

            // daemon start and stop: serves /healthz, exits 0 on SIGTERM
            let daemon = try await sandbox.withDaemon { daemon in
                let transport = try CurlTransport(configuration: CurlTransportConfiguration(userAgent: "test"))
                #expect(try await daemon.health(with: transport).status == 200)
            }
            #expect(daemon.process.terminationStatus == 0)
            let log = try String(contentsOfFile: daemon.log, encoding: .utf8)
            for secret in secrets { #expect(!log.contains(secret), "the daemon logged a token") }
        }
    }
}
