import Foundation
import Testing
import TokenKeeper
import TokenKeeperTesting

/// What the configuration refuses at load, exit 64: values the server or the engine cannot use,
/// files too big or too deep to parse cheaply, and messages that would repeat a huge value whole.
@Suite struct ConfigurationBoundsTests {
    let directory = TemporaryDirectory()

    func yaml(_ text: String) throws -> String {
        let path = directory.file("tokenkeeper.yaml")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        return path
    }

    /// The configuration error `load` throws for `environment` (and `file`), or nil.
    func refusal(_ environment: [String: String], file: String? = nil) -> TokenKeeperError? {
        do {
            _ = try ConfigurationLoader.load(configFile: file, environment: ["HOME": "/h"].merging(environment) { $1 })
            return nil
        } catch {
            return error as? TokenKeeperError
        }
    }

    @Test func aStatementTimeoutPostgreSQLRefusesIsRefusedAtLoad() throws {
        let refused = try #require(refusal(["TOKENKEEPER_DB_STATEMENT_TIMEOUT": "25d"]))
        #expect(refused.code.exitCode == 64)
        #expect(refused.message.contains("database.statement_timeout (TOKENKEEPER_DB_STATEMENT_TIMEOUT)"))
        #expect(refused.message.contains("longer than PostgreSQL accepts"), "\(refused.message)")
        #expect(refusal(["TOKENKEEPER_DB_STATEMENT_TIMEOUT": "2147483648ms"]) != nil)
        let longest = try ConfigurationLoader.load(
            environment: ["HOME": "/h", "TOKENKEEPER_DB_STATEMENT_TIMEOUT": "2147483647ms"]
        )
        #expect(longest.database.statementTimeout == .milliseconds(2_147_483_647))
    }

    @Test(arguments: ["0.0000001", "1e-320", "0.009", "1000001", "1e308", "nan", "inf", "0", "-5"])
    func aRateOutsideItsBoundsIsRefused(rate: String) throws {
        let refused = try #require(refusal(["TOKENKEEPER_RATE": rate]), "\(rate) was accepted")
        #expect(refused.code.exitCode == 64)
        #expect(refused.message.contains("limits.rate (TOKENKEEPER_RATE)"))
        #expect(refused.message.contains("from 0.01 to 1000000"), "\(refused.message)")
    }

    @Test(arguments: [("0.01", 0.01), ("5", 5), ("1000000", 1_000_000)])
    func aRateWithinItsBoundsIsTaken(rate: String, value: Double) throws {
        #expect(
            try ConfigurationLoader.load(environment: ["HOME": "/h", "TOKENKEEPER_RATE": rate]).limits.rate == value
        )
    }

    @Test func renewBeforeOfZeroSaysItMustBeAboveZero() throws {
        let refused = try #require(refusal(["TOKENKEEPER_RENEW_BEFORE": "0s"]))
        #expect(refused.code.exitCode == 64)
        #expect(refused.message.contains("policy.renew_before must be longer than zero"), "\(refused.message)")
        #expect(!refused.message.contains("must be shorter"), "\(refused.message)")
    }

    @Test func aMisspeltLogLevelIsRefusedNamingTheLevels() throws {
        let refused = try #require(refusal(["TOKENKEEPER_LOG_LEVEL": "debgu"]))
        #expect(refused.code.exitCode == 64)
        #expect(
            refused.message.contains(
                #"TOKENKEEPER_LOG_LEVEL: "debgu" (expected one of trace, debug, info, notice, warning, error, critical)"#
            ),
            "\(refused.message)"
        )
        for level in ["debug", "WARNING", ""] { #expect(refusal(["TOKENKEEPER_LOG_LEVEL": level]) == nil) }
    }

    /// A megabyte pasted into a setting: the message quotes its start and its size, not all of it.
    @Test func anEchoedBadValueIsCutShort() throws {
        let huge = String(repeating: "x", count: 1_000_000)
        for variable in ["TOKENKEEPER_LIFETIME", "TOKENKEEPER_RATE", "SINCH_AUTH", "SINCH_PROVISIONING_URL"] {
            let refused = try #require(refusal([variable: huge]), "\(variable)")
            #expect(refused.message.utf8.count < 400, "\(variable): \(refused.message.utf8.count) bytes")
            #expect(refused.message.contains("(1000000 bytes)"), "\(refused.message)")
        }
    }

    @Test func aConfigFileOverOneMebibyteIsRefusedUnread() throws {
        let file = try yaml("limits:\n  rate: 5\n" + String(repeating: "# a comment line\n", count: 70_000))
        let refused = try #require(refusal([:], file: file))
        #expect(refused.code.exitCode == 64)
        #expect(refused.message.contains("config file \(file) is larger than 1 MiB"), "\(refused.message)")
    }

    @Test(arguments: [
        ("flow", String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000), 1),
        ("indentation", (0..<100).map { String(repeating: " ", count: $0) + "k\($0):\n" }.joined() + "  v\n", 17),
        ("sequences", String(repeating: "- ", count: 40) + "x\n", 1),
        ("mixed", "sinch:\n  key_id: {a: [[[[[[[[[[[[[[[[x]]]]]]]]]]]]]]]]}\n", 2),
    ])
    func aConfigFileNestedTooDeepIsRefusedBeforeParsing(name: String, text: String, line: Int) throws {
        let file = try yaml(text)
        let started = ContinuousClock.now
        let refused = try #require(refusal([:], file: file), "\(name) was accepted")
        #expect(ContinuousClock.now - started < .seconds(1), "\(name)")
        #expect(
            refused.message.contains("config file \(file) nests more than 16 levels deep (at line \(line))"),
            "\(name): \(refused.message)"
        )
    }

    /// Quotes, comments, block scalars and flow lists as real files write them are no nesting.
    @Test func anOrdinaryConfigFileIsNotTakenForADeepOne() throws {
        let file = try yaml(
            """
            # [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ a comment
            database:
              path: /var/lib/tokenkeeper/tk.sqlite   # {{{{{{{{{{{{{{{{{{{{{{{{{{{{
            hooks:
              deploy: "/bin/sh -c 'echo [[[[[[[[[[[[[[[[[[[[[[[[ >> /tmp/x'"
              reauth: |
                [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
                    {{{{{{{{{{{{{{{{{{{{{{{{{{{{{
            sinch: {key_id: abc, auth: basic}
            limits:
              rate: 2
            """
        )
        let config = try ConfigurationLoader.load(configFile: file, environment: ["HOME": "/h"])
        #expect(config.limits.rate == 2)
        #expect(config.sinch.keyID == "abc")
        #expect(config.hooks[.reauth]?.hasPrefix("[[[[") == true)
    }

    @Test func aKeyGivenTwiceIsNamedAsGivenTwice() throws {
        let file = try yaml("sinch:\n  key_id: first\n  auth: basic\n  key_id: second\n")
        let refused = try #require(refusal([:], file: file))
        #expect(refused.code.exitCode == 64)
        #expect(
            refused.message.contains("config file \(file): the key key_id is given more than once (at line 2)"),
            "\(refused.message)"
        )
        #expect(!refused.message.contains("first") && !refused.message.contains("second"))
    }
}
