import SinchProvisioning

/// `wabas --json`: one object per WABA, field names in the CLI's snake_case.
package struct WABAJSON: Encodable, Sendable {
    package struct Number: Encodable, Sendable {
        var id: String
        var displayPhoneNumber: String?
        var provisioned: Bool?

        enum CodingKeys: String, CodingKey {
            case id
            case displayPhoneNumber = "display_phone_number"
            case provisioned
        }

        package func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            // Absent values are printed as null so that every object has every field.
            try container.encode(displayPhoneNumber, forKey: .displayPhoneNumber)
            try container.encode(provisioned, forKey: .provisioned)
        }
    }

    var id: String
    var name: String?
    var numbers: [Number]

    package init(_ waba: WABA) {
        id = waba.id
        name = waba.name
        numbers = waba.numbers.map {
            Number(id: $0.id, displayPhoneNumber: $0.displayPhoneNumber, provisioned: $0.provisioned)
        }
    }

    enum CodingKeys: String, CodingKey {
        case id, name, numbers
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(numbers, forKey: .numbers)
    }
}

extension TextOutput {
    /// `wabas` without `--json`: each WABA, then its numbers indented.
    package static func wabas(_ wabas: [WABA]) -> String {
        guard !wabas.isEmpty else { return "no WABAs reachable with this token" }
        var lines: [String] = []
        // Every string here is Sinch's (Meta's): shown escaped, never able to drive the terminal.
        let safe = TerminalText.escape
        for waba in wabas {
            lines.append("WABA \(safe(waba.id))" + (waba.name.map { "  \(safe($0))" } ?? ""))
            if waba.numbers.isEmpty { lines.append("  (no phone numbers)") }
            for number in waba.numbers {
                let state = number.provisioned.map { $0 ? "provisioned" : "not provisioned" } ?? "-"
                lines.append("  \(number.displayPhoneNumber.map(safe) ?? "-")  id \(safe(number.id))  \(state)")
            }
        }
        return lines.joined(separator: "\n")
    }
}
