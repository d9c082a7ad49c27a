/// Everything a FakeSinch remembers, changed only under its one mutex.
///
/// No I/O and no clock: each method that cares about time takes `now` (Unix seconds).
struct FakeSinchState {
    var registry = TokenRegistry()
    var rules = FaultRules()
    private(set) var stats = StatsRecorder()
    private(set) var inFlight = 0
    private var random = FakeRandom()
    private var bucket: TokenBucket?
    private var bearers: [String: Double] = [:]
    private var bearersSincePrune = 0

    init(oauthRateLimit: Bool) {
        bucket = oauthRateLimit ? TokenBucket(capacity: 30, refillPerSecond: 10) : nil
    }

    // MARK: Requests

    /// A request to `endpoint` begins: it is counted, and it gets the fault of the first matching rule.
    mutating func begin(
        _ endpoint: FakeSinchEndpoint,
        project: String?,
        facebookToken: String?,
        facebookCode: String?,
        userAgent: String?,
        now: Double
    ) -> FakeSinchFault? {
        inFlight += 1
        stats.begun(endpoint, project: project, at: now, inFlight: inFlight, userAgent: userAgent)
        guard !rules.isEmpty else { return nil }
        let lineage =
            facebookToken.flatMap(registry.lineage(ofToken:)) ?? facebookCode.flatMap(registry.lineage(ofCode:))
        return rules.take(endpoint: endpoint, project: project, lineage: lineage, random: &random)
    }

    /// The request begun with ``begin(_:project:facebookToken:facebookCode:userAgent:now:)`` got `status` (0: none).
    mutating func finish(_ endpoint: FakeSinchEndpoint, status: Int) {
        inFlight -= 1
        stats.answered(endpoint, status: status)
    }

    /// A request answered at once, before faults apply (wrong method, oversized body).
    mutating func record(_ endpoint: FakeSinchEndpoint, project: String?, status: Int, now: Double) {
        stats.begun(endpoint, project: project, at: now, inFlight: inFlight + 1)
        stats.answered(endpoint, status: status)
    }

    mutating func connectionOpened() {
        stats.connectionOpened()
    }

    mutating func resetStats() {
        stats = StatsRecorder(inFlight: inFlight)
    }

    // MARK: Long-lived tokens

    mutating func issueCode(lineage: String?) -> (code: String, lineage: String) {
        registry.issueCode(lineage: lineage, random: &random)
    }

    mutating func issueToken(lineage: String?, expiresAt: Double) -> (token: String, lineage: String) {
        registry.issueToken(lineage: lineage, expiresAt: expiresAt, random: &random)
    }

    mutating func exchange(code: String, expiresAt: Double) -> TokenRegistry.Exchange {
        counted(registry.exchange(code: code, expiresAt: expiresAt, random: &random))
    }

    mutating func refresh(token: String, now: Double, expiresAt: Double) -> TokenRegistry.Exchange {
        counted(registry.refresh(token: token, now: now, expiresAt: expiresAt, random: &random))
    }

    private mutating func counted(_ exchange: TokenRegistry.Exchange) -> TokenRegistry.Exchange {
        if case .issued(_, let lineage) = exchange { stats.exchanged(lineage: lineage) }
        return exchange
    }

    // MARK: OAuth2

    /// Takes a slot from the token endpoint's bucket; false means answer 429.
    mutating func takeOAuthSlot(now: Double) -> Bool {
        bucket?.take(now: now) ?? true
    }

    mutating func issueBearer(now: Double, expiresAt: Double) -> String {
        bearersSincePrune += 1
        if bearersSincePrune >= 1024 {
            bearersSincePrune = 0
            bearers = bearers.filter { $0.value > now }
        }
        let bearer = random.alphanumeric(48, prefix: "fake-jwt.")
        bearers[bearer] = expiresAt
        stats.bearerIssued()
        return bearer
    }

    func isBearerValid(_ bearer: String, now: Double) -> Bool {
        guard let expiresAt = bearers[bearer] else { return false }
        return now < expiresAt
    }
}
