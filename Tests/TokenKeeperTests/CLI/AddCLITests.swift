import Foundation
import Testing
import TokenKeeperTesting

/// `tokenkeeper add`: a long-lived token from standard input, its id or its JSON out.
@Suite struct AddCLITests {
    static let tokenFields: Set<String> = [
        "id", "project", "label", "waba", "business_manager", "state", "issued_at", "expires_at", "refresh_at",
        "last_refreshed_at", "last_probed_at", "failures", "last_error", "fingerprint",
    ]
    static let sixtyDays: TimeInterval = 60 * 86_400

    /// A token on the command line (where `ps` shows it to every user) is refused with the way to
    /// give it, and never echoed.
    @Test func aTokenOnTheCommandLineIsRefusedAndNotEchoed() async throws {
        let sandbox = try await CLISandbox()
        let token = CLISecret.make()
        for arguments in [["add", "--project", "p1", token], ["add", token, "--project", "p1"]] {
            let result = try await sandbox.cli.run(arguments)
            #expect(result.status == 64)
            #expect(result.stderr.contains("reads the token from standard input"), "\(result.stderr)")
            #expect(!result.stderr.contains("Unexpected argument"))
            #expect(!result.everything.contains(token), "the refusal echoed the token")
        }
        #expect(try await sandbox.listedIDs().isEmpty)
    }

    @Test(arguments: TestBackend.all)
    func addPrintsTheNewIdAlone(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)

        let result = try await sandbox.succeed("add", "--project", "p1", stdin: CLISecret.make() + "\n")

        #expect(result.stdout.wholeMatch(of: /tk_[0-9a-f]{12}\n/) != nil, "stdout: \(result.stdout)")
        #expect(try await sandbox.listedIDs() == [result.stdout.trimmingCharacters(in: .newlines)])
    }

    @Test(arguments: TestBackend.all)
    func tokenStdinIsTheDefaultAndCanBeSaid(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let token = CLISecret.make()

        let id = try await sandbox.add(token, project: "p1", "--token-stdin")

        #expect(try await sandbox.succeed("get", id).stdout == token + "\n")
    }

    @Test(arguments: TestBackend.all)
    func addJSONPrintsOneObjectWithExactlyTheContractFields(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)

        let result = try await sandbox.succeed(
            "add",
            "--project",
            "p1",
            "--label",
            "Acme",
            "--waba",
            "1000",
            "--business-manager",
            "SINCH_UK",
            "--json",
            stdin: CLISecret.make()
        )

        #expect(result.stdout.hasSuffix("\n"))
        #expect(result.stdout.dropLast().contains("\n") == false, "one line")
        let object = try #require(try CLIJSON.parse(result.stdout).object)
        #expect(Set(object.keys) == Self.tokenFields)
        #expect(object["id"]?.string?.wholeMatch(of: /tk_[0-9a-f]{12}/) != nil)
        #expect(object["project"] == .string("p1"))
        #expect(object["label"] == .string("Acme"))
        #expect(object["waba"] == .string("1000"))
        #expect(object["business_manager"] == .string("SINCH_UK"))
        #expect(object["state"] == .string("active"))
        for field in ["issued_at", "expires_at", "refresh_at"] {
            let stamp = try #require(object[field]?.string, "\(field) is a string")
            #expect(CLITime.isUTCStamp(stamp), "\(field): \(stamp)")
        }
        #expect(object["last_refreshed_at"] == .null)
        #expect(object["failures"] == .integer(0))
        #expect(object["last_error"] == .null)
        let fingerprint = try #require(object["fingerprint"]?.string)
        #expect(fingerprint.wholeMatch(of: /[0-9a-f]+/) != nil)
    }

    @Test(arguments: TestBackend.all)
    func optionalFieldsAreNullNotMissing(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)

        let result = try await sandbox.succeed("add", "--project", "p1", "--json", stdin: CLISecret.make())

        let object = try #require(try CLIJSON.parse(result.stdout).object)
        #expect(Set(object.keys) == Self.tokenFields)
        #expect(object["label"] == .null)
        #expect(object["waba"] == .null)
        #expect(object["business_manager"] == .null)
    }

    @Test(arguments: TestBackend.all)
    func addWithoutTimesExpiresOneLifetimeAfterNow(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let before = Date().timeIntervalSince1970.rounded(.down)

        let result = try await sandbox.succeed("add", "--project", "p1", "--json", stdin: CLISecret.make())

        let after = Date().timeIntervalSince1970.rounded(.up)
        let object = try CLIJSON.parse(result.stdout)
        let issued = try #require(CLITime.parse(object["issued_at"]?.string ?? "")).timeIntervalSince1970
        let expires = try #require(CLITime.parse(object["expires_at"]?.string ?? "")).timeIntervalSince1970
        #expect(issued >= before && issued <= after)
        #expect(expires - issued == Self.sixtyDays)
    }

    @Test(arguments: TestBackend.all)
    func expiresAtSetsExpiresAt(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let expiry = CLITime.format(CLITime.days(30))

        let result = try await sandbox.succeed(
            "add",
            "--project",
            "p1",
            "--expires-at",
            expiry,
            "--json",
            stdin: "EAAx0001"
        )

        #expect(try CLIJSON.parse(result.stdout)["expires_at"] == .string(expiry))
    }

    @Test(arguments: TestBackend.all)
    func expiresAtWithAnOffsetIsPrintedInUTC(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let expiry = CLITime.days(30)
        let local = CLITime.format(expiry.addingTimeInterval(2 * 3_600)).replacingOccurrences(of: "Z", with: "+02:00")

        let result = try await sandbox.succeed(
            "add",
            "--project",
            "p1",
            "--expires-at",
            local,
            "--json",
            stdin: "EAAx0001"
        )

        #expect(try CLIJSON.parse(result.stdout)["expires_at"] == .string(CLITime.format(expiry)))
    }

    @Test(arguments: TestBackend.all)
    func issuedAtGivesAnExpiryOneLifetimeLater(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let issued = CLITime.days(-10)

        let result = try await sandbox.succeed(
            "add",
            "--project",
            "p1",
            "--issued-at",
            CLITime.format(issued),
            "--json",
            stdin: "EAAx0001"
        )

        let object = try CLIJSON.parse(result.stdout)
        #expect(object["issued_at"] == .string(CLITime.format(issued)))
        #expect(object["expires_at"] == .string(CLITime.format(issued.addingTimeInterval(Self.sixtyDays))))
    }

    @Test(arguments: TestBackend.all)
    func expiresAtInThePastIsBadInputAndStoresNothing(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)

        let result = try await sandbox.run(
            "add",
            "--project",
            "p1",
            "--expires-at",
            CLITime.format(CLITime.days(-1)),
            stdin: "EAAx0001"
        )

        #expect(result.status == 65)
        #expect(result.stdout.isEmpty)
        #expect(try await sandbox.listedIDs().isEmpty)
        #expect(try await sandbox.auditJSON().isEmpty)
    }

    /// More than a lifetime ago (already dead) or in the future.
    @Test(arguments: [-61.0, 1.0])
    func issuedAtOutsideTheTokensPossibleLifeIsBadInput(days: Double) async throws {
        let sandbox = try await CLISandbox()

        let result = try await sandbox.run(
            "add",
            "--project",
            "p1",
            "--issued-at",
            CLITime.format(CLITime.days(days)),
            stdin: "EAAx0001"
        )

        #expect(result.status == 65)
        #expect(try await sandbox.listedIDs().isEmpty)
    }

    @Test(arguments: TestBackend.all)
    func expiresAtAndIssuedAtTogetherAreAUsageError(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)

        let result = try await sandbox.run(
            "add",
            "--project",
            "p1",
            "--expires-at",
            CLITime.format(CLITime.days(30)),
            "--issued-at",
            CLITime.format(CLITime.days(-1)),
            stdin: "EAAx0001"
        )

        #expect(result.status == 64)
        #expect(try await sandbox.listedIDs().isEmpty)
    }

    @Test(arguments: TestBackend.all)
    func timeThatIsNotRFC3339IsAUsageError(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)

        let result = try await sandbox.run("add", "--project", "p1", "--expires-at", "next tuesday", stdin: "EAAx0001")

        #expect(result.status == 64)
        #expect(result.stderr.contains("next tuesday"))
    }

    @Test(arguments: TestBackend.all)
    func missingProjectIsAUsageError(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)

        let result = try await sandbox.run("add", stdin: "EAAx0001")

        #expect(result.status == 64)
        #expect(result.stderr.contains("--project"))
    }

    @Test(arguments: ["", "\n", "   \n\t\n"])
    func emptyStandardInputIsBadInput(stdin: String) async throws {
        let sandbox = try await CLISandbox()

        let result = try await sandbox.run("add", "--project", "p1", stdin: stdin)

        #expect(result.status == 65)
        #expect(result.stdout.isEmpty)
        #expect(try await sandbox.listedIDs().isEmpty)
    }

    @Test(arguments: TestBackend.all)
    func surroundingWhitespaceIsTrimmed(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let token = CLISecret.make()

        let id = try await sandbox.add("  \t" + token + "  \r\n\n")

        #expect(try await sandbox.succeed("get", id).stdout == token + "\n")
    }

    @Test(arguments: TestBackend.all)
    func moreThanOneValueOnStandardInputIsBadInput(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)

        let result = try await sandbox.run("add", "--project", "p1", stdin: "EAAone EAAtwo\n")

        #expect(result.status == 65)
        #expect(try await sandbox.listedIDs().isEmpty)
    }

    @Test(arguments: TestBackend.all)
    func replacePutsANewTokenIntoTheExistingRecord(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let old = CLISecret.make()
        let new = CLISecret.make()
        let id = try await sandbox.add(old, project: "p1", "--label", "Acme")
        let before = try #require(try await sandbox.listJSON().first)

        let result = try await sandbox.succeed("add", "--replace", id, "--json", stdin: new)

        let after = try CLIJSON.parse(result.stdout)
        #expect(after["id"] == .string(id))
        #expect(after["project"] == .string("p1"))
        #expect(after["label"] == .string("Acme"))
        #expect(after["state"] == .string("active"))
        #expect(after["fingerprint"] != before["fingerprint"])
        #expect(try await sandbox.listedIDs() == [id])
        #expect(try await sandbox.succeed("get", id).stdout == new + "\n")
        let replaced = try await sandbox.auditJSON("--event", "replaced")
        #expect(replaced.count == 1)
        #expect(replaced.first?["token"] == .string(id))
        #expect(replaced.first?["detail"]?["old_fingerprint"] == before["fingerprint"])
        #expect(replaced.first?["detail"]?["new_fingerprint"] == after["fingerprint"])
    }

    @Test(arguments: TestBackend.all)
    func replacePrintsTheIdAloneWithoutJSON(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)
        let id = try await sandbox.add(CLISecret.make())

        let result = try await sandbox.succeed("add", "--replace", id, stdin: CLISecret.make())

        #expect(result.stdout == id + "\n")
    }

    @Test(arguments: TestBackend.all)
    func replaceOfAnUnknownIdIsBadInput(_ backend: TestBackend) async throws {
        let sandbox = try await CLISandbox(backend: backend)

        let result = try await sandbox.run("add", "--replace", "tk_000000000000", stdin: CLISecret.make())

        #expect(result.status == 65)
        #expect(result.stderr.contains("tk_000000000000"))
        #expect(try await sandbox.auditJSON().isEmpty)
    }
}
