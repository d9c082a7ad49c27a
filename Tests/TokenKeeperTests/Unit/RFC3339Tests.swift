import Foundation
import Testing
import TokenKeeper

@Suite struct RFC3339Tests {
    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("2026-11-25T10:00:00Z", 1_795_600_800),
        ("2026-11-25T10:00:00.123Z", 1_795_600_800),
        ("2026-11-25T12:00:00+02:00", 1_795_600_800),
        ("2026-11-25T05:30:00-04:30", 1_795_600_800),
        ("2024-02-29T00:00:00Z", 1_709_164_800),
        ("1969-12-31T23:59:59Z", -1),
    ])
    func parsesUTCOffsetsAndFractions(text: String, seconds: Int64) {
        #expect(RFC3339.parse(text) == UnixTime(seconds: seconds))
    }

    @Test(arguments: [
        "", "2026-11-25", "2026-11-25T10:00:00", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
        "2025-02-29T00:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25 10:00:00Z", "2026-11-25T10:00:00+0200",
        "2026-11-25T10:00:00Zjunk", "2026-11-25T10:00:00.Z", "tomorrow",
    ])
    func rejectsOtherShapes(text: String) {
        #expect(RFC3339.parse(text) == nil)
    }

    @Test func formatMatchesFoundationAndRoundTrips() {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<1_000 {
            let time = UnixTime(seconds: Int64.random(in: -2_000_000_000...5_000_000_000, using: &generator))
            let text = RFC3339.format(time)
            #expect(text == formatter.string(from: time.date))
            #expect(RFC3339.parse(text) == time)
        }
    }
}
