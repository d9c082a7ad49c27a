/// When FakeSinch applies a fault: which requests match, how many of them, and how often.
///
/// As JSON every field but `fault` is optional (`rate` defaults to 1):
/// `{"fault":{"error":{"status":500,"code":"internal_error"}},"endpoint":"longLivedAccessToken","count":3}`.
/// See ``FakeSinchFault`` for the forms of `fault`.
public struct FakeSinchFaultRule: Sendable, Codable {
    public var fault: FakeSinchFault
    /// The call to fault; nil means any of the three Provisioning calls (never `oauthToken`,
    /// which is faulted only when named).
    public var endpoint: FakeSinchEndpoint?
    /// Only requests whose `facebookToken` (or `facebookCode`) belongs to this lineage.
    public var lineage: String?
    /// Only requests to this project id.
    public var project: String?
    /// How many requests get the fault before the rule is removed; nil keeps it forever.
    public var count: Int?
    /// The probability in 0...1 that a matching request gets the fault. A request that escapes the
    /// draw is not counted against `count`, and later rules may still match it.
    public var rate: Double

    public init(
        _ fault: FakeSinchFault,
        endpoint: FakeSinchEndpoint? = nil,
        lineage: String? = nil,
        project: String? = nil,
        count: Int? = nil,
        rate: Double = 1
    ) {
        self.fault = fault
        self.endpoint = endpoint
        self.lineage = lineage
        self.project = project
        self.count = count
        self.rate = rate
    }

    private enum CodingKeys: String, CodingKey {
        case fault, endpoint, lineage, project, count, rate
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            try container.decode(FakeSinchFault.self, forKey: .fault),
            endpoint: try container.decodeIfPresent(FakeSinchEndpoint.self, forKey: .endpoint),
            lineage: try container.decodeIfPresent(String.self, forKey: .lineage),
            project: try container.decodeIfPresent(String.self, forKey: .project),
            count: try container.decodeIfPresent(Int.self, forKey: .count),
            rate: try container.decodeIfPresent(Double.self, forKey: .rate) ?? 1
        )
    }

    /// True when the rule covers a request to `endpoint`, ignoring the draw.
    func matches(
        endpoint requested: FakeSinchEndpoint,
        project requestedProject: String?,
        lineage requestedLineage: String?
    )
        -> Bool
    {
        if let endpoint {
            guard endpoint == requested else { return false }
        } else {
            guard requested.isProvisioning else { return false }
        }
        if let project, project != requestedProject { return false }
        if let lineage, lineage != requestedLineage { return false }
        return true
    }
}
