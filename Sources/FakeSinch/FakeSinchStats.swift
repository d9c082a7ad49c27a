/// What FakeSinch has seen since it started or since ``FakeSinch/resetStats()``.
///
/// Admin calls (`/_fake/...`) and unknown paths are not counted.
public struct FakeSinchStats: Sendable, Codable {
    /// Endpoint raw value, then answered status as a string, then count. A request that got no
    /// answer (`.reset`, `.hang`) counts under status "0".
    public var requests: [String: [String: Int]]
    /// Successful `longLivedAccessToken` calls (code exchanges and refreshes) per lineage.
    public var exchangesPerLineage: [String: Int]
    /// The most requests (Provisioning and OAuth2) being handled at once.
    public var maxInFlight: Int
    /// TCP connections accepted.
    public var connections: Int
    /// Unix second (from ``FakeSinchConfiguration/now``, as a string) to Provisioning requests begun in it.
    public var requestsPerSecond: [String: Int]
    /// Project id, then Unix second, then Provisioning requests.
    public var requestsPerProjectSecond: [String: [String: Int]]
    /// Project id, then when each of its Provisioning requests began (Unix seconds with a
    /// fraction), in order: for counts in any one-second stretch.
    public var arrivalsPerProject: [String: [Double]]
    /// Bearer tokens issued by `/oauth2/token`.
    public var oauthTokensIssued: Int
    /// `User-Agent` header (empty when absent) to requests (Provisioning and OAuth2) that sent it.
    public var userAgents: [String: Int]

    public init(
        requests: [String: [String: Int]] = [:],
        exchangesPerLineage: [String: Int] = [:],
        maxInFlight: Int = 0,
        connections: Int = 0,
        requestsPerSecond: [String: Int] = [:],
        requestsPerProjectSecond: [String: [String: Int]] = [:],
        arrivalsPerProject: [String: [Double]] = [:],
        oauthTokensIssued: Int = 0,
        userAgents: [String: Int] = [:]
    ) {
        self.requests = requests
        self.exchangesPerLineage = exchangesPerLineage
        self.maxInFlight = maxInFlight
        self.connections = connections
        self.requestsPerSecond = requestsPerSecond
        self.requestsPerProjectSecond = requestsPerProjectSecond
        self.arrivalsPerProject = arrivalsPerProject
        self.oauthTokensIssued = oauthTokensIssued
        self.userAgents = userAgents
    }

    /// Requests to `endpoint`: all of them, or those answered with `status` (0: no answer).
    public func count(_ endpoint: FakeSinchEndpoint, status: Int? = nil) -> Int {
        guard let byStatus = requests[endpoint.rawValue] else { return 0 }
        if let status { return byStatus[String(status)] ?? 0 }
        return byStatus.values.reduce(0, +)
    }

    /// The busiest second's Provisioning requests.
    public var peakRequestsPerSecond: Int { requestsPerSecond.values.max() ?? 0 }

    /// The most Provisioning requests to `project` that began within any one second (a sliding
    /// second, not a calendar one).
    public func peakRequestsInAnySecond(project: String) -> Int {
        let times = (arrivalsPerProject[project] ?? []).sorted()
        var peak = 0
        var first = 0
        for (last, time) in times.enumerated() {
            while times[first] <= time - 1 { first += 1 }
            peak = max(peak, last - first + 1)
        }
        return peak
    }
}
