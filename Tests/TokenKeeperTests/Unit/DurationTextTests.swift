import Testing
import TokenKeeper

@Suite struct DurationTextTests {
    @Test(arguments: [
        ("90s", Duration.seconds(90)),
        ("20d", .seconds(20 * 86_400)),
        ("250ms", .milliseconds(250)),
        ("36h", .seconds(36 * 3_600)),
        ("5m", .seconds(300)),
        ("0s", .zero),
        ("2w", .seconds(1_209_600)),
        ("1w", .seconds(604_800)),
    ])
    func parsesAnIntegerAndAUnit(text: String, expected: Duration) {
        #expect(DurationText.parse(text) == expected)
    }

    @Test(arguments: [
        "", "7", "d", "7x", "-5s", "5 s", "1.5h", "5S", "5sec", "s5", "99999999999999999999d", "40000d", "6000w", "w",
        "2W",
    ])
    func rejectsAnythingElse(text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test func configurationErrorNamesKeyAndValue() {
        #expect {
            try DurationText.parse("abc", key: "policy.lifetime")
        } throws: { error in
            let error = error as? TokenKeeperError
            return error?.code == .configuration && error!.message.contains("policy.lifetime")
                && error!.message.contains("\"abc\"")
        }
    }

    @Test(arguments: [
        (Duration.seconds(14 * 86_400), "14d"), (.seconds(36 * 3_600), "36h"), (.seconds(90), "90s"),
        (.seconds(120), "2m"), (.milliseconds(250), "250ms"),
    ])
    func formatsInTheLargestWholeUnit(duration: Duration, expected: String) {
        #expect(DurationText.format(duration) == expected)
        #expect(DurationText.parse(expected) == duration)
    }

    @Test func relativeTimeSaysInOrAgo() {
        let now = UnixTime(seconds: 1_000_000)
        #expect(DurationText.relative(now + .seconds(12 * 86_400 + 5), now: now) == "in 12d")
        #expect(DurationText.relative(now - .seconds(3 * 3_600), now: now) == "3h ago")
        #expect(DurationText.relative(now + .seconds(40), now: now) == "in 40s")
        #expect(DurationText.relative(now + .seconds(86_400 + 1), now: now) == "in 24h")
    }
}
