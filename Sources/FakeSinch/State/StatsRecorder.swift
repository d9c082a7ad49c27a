/// The counters behind ``FakeSinchStats``, keyed for cheap updates.
struct StatsRecorder {
    private var requests: [FakeSinchEndpoint: [Int: Int]] = [:]
    private var exchangesPerLineage: [String: Int] = [:]
    private var perSecond: [Int: Int] = [:]
    private var perProjectSecond: [String: [Int: Int]] = [:]
    private var arrivals: [String: [Double]] = [:]
    private var oauthTokensIssued = 0
    private var userAgents: [String: Int] = [:]
    private var connections = 0
    private(set) var maxInFlight = 0

    /// A clean slate; `inFlight` requests are still running and set the new maximum's floor.
    init(inFlight: Int = 0) {
        maxInFlight = inFlight
    }

    mutating func connectionOpened() {
        connections += 1
    }

    mutating func begun(
        _ endpoint: FakeSinchEndpoint,
        project: String?,
        at now: Double,
        inFlight: Int,
        userAgent: String? = nil
    ) {
        maxInFlight = max(maxInFlight, inFlight)
        userAgents[userAgent ?? "", default: 0] += 1
        guard endpoint.isProvisioning else { return }
        let second = Int(now.rounded(.down))
        perSecond[second, default: 0] += 1
        if let project {
            perProjectSecond[project, default: [:]][second, default: 0] += 1
            arrivals[project, default: []].append(now)
        }
    }

    mutating func answered(_ endpoint: FakeSinchEndpoint, status: Int) {
        requests[endpoint, default: [:]][status, default: 0] += 1
    }

    mutating func exchanged(lineage: String) {
        exchangesPerLineage[lineage, default: 0] += 1
    }

    mutating func bearerIssued() {
        oauthTokensIssued += 1
    }

    var snapshot: FakeSinchStats {
        FakeSinchStats(
            requests: Dictionary(
                uniqueKeysWithValues: requests.map { endpoint, byStatus in
                    (endpoint.rawValue, Self.stringKeys(byStatus))
                }
            ),
            exchangesPerLineage: exchangesPerLineage,
            maxInFlight: maxInFlight,
            connections: connections,
            requestsPerSecond: Self.stringKeys(perSecond),
            requestsPerProjectSecond: perProjectSecond.mapValues(Self.stringKeys),
            arrivalsPerProject: arrivals,
            oauthTokensIssued: oauthTokensIssued,
            userAgents: userAgents
        )
    }

    private static func stringKeys(_ counts: [Int: Int]) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: counts.map { (String($0.key), $0.value) })
    }
}
