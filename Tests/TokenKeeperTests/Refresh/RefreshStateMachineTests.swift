import SinchProvisioning
import Testing

@testable import TokenKeeper

/// The refresh decisions, one row of the classification table (TokenKeeper.docc/SinchAPI.md) at a time, with a fixed clock and a
/// seeded random source.
@Suite struct RefreshStateMachineTests {
    static let now = UnixTime(seconds: 1_795_600_800)
    static let policy = RenewalPolicy()
    let machine = RefreshStateMachine(policy: policy)

    /// A token 40 days into its 60-day life, due for refresh.
    static let token = RefreshStateMachine.Token(
        state: .active,
        failures: 0,
        issuedAt: now - .seconds(40 * 86_400),
        expiresAt: now + .seconds(20 * 86_400)
    )

    func decide(
        _ outcome: RefreshStateMachine.Outcome,
        token: RefreshStateMachine.Token = token,
        now: UnixTime = now,
        strikes: Int = 0
    ) -> RefreshStateMachine.Decision? {
        var random = SeededRandom(seed: 7)
        guard
            case .commit(let decision) = machine.decide(
                token,
                outcome: outcome,
                now: now,
                projectStrikes: strikes,
                using: &random
            )
        else { return nil }
        return decision
    }

    static func error(
        _ errorClass: SinchErrorClass,
        _ code: String,
        status: Int? = 400,
        retryAfter: Duration? = nil
    )
        -> RefreshStateMachine.Outcome
    {
        .failed(SinchError(errorClass, status: status, code: code, message: "m", retryAfter: retryAfter))
    }

    @Test func aSuccessStartsANewLifeAndSchedulesAtTwoThirds() throws {
        let decision = try #require(decide(.refreshed(sameValue: false)))
        #expect(decision.state == .active)
        #expect(decision.storesNewToken)
        #expect(decision.event == .refreshed)
        #expect(decision.issuedAt == Self.now)
        #expect(decision.expiresAt == Self.now + .seconds(60 * 86_400))
        // Two thirds of the lifetime (40 d), minus at most 10 % of renew-before (2 d).
        #expect(decision.refreshAt <= Self.now + .seconds(40 * 86_400))
        #expect(decision.refreshAt >= Self.now + .seconds(38 * 86_400))
        #expect(decision.hooks == [.deploy])
        #expect(decision.note == nil)
    }

    /// The token sent, handed back, is no proof of an extension: it once got `now + 60 d`, and a
    /// token could die while `list` showed 59 days left.
    @Test func theSameTokenBackKeepsItsExpiryAndTriesAgainAfterMinAge() throws {
        let decision = try #require(decide(.refreshed(sameValue: true)))
        #expect(decision.event == .notExtended)
        #expect(decision.state == .active)
        #expect(!decision.storesNewToken)
        #expect(decision.expiresAt == Self.token.expiresAt)
        #expect(decision.issuedAt == Self.token.issuedAt)
        #expect(decision.refreshAt == Self.now + Self.policy.minAge)
        #expect(decision.hooks.isEmpty, "the deploy hook has nothing new to deploy")
        #expect(decision.note?.contains("its expiry stays") == true)
        // Close to its end, the next try is its last safe moment.
        var late = Self.token
        late.expiresAt = Self.now + .seconds(5 * 3_600)
        let lastDay = try #require(decide(.refreshed(sameValue: true), token: late))
        #expect(lastDay.refreshAt == late.expiresAt - .seconds(3_600))
    }

    @Test func aSuccessAfterFailuresRunsRecovered() throws {
        var token = Self.token
        token.state = .retrying
        token.failures = 3
        let decision = try #require(decide(.refreshed(sameValue: false), token: token))
        #expect(decision.failures == 0)
        #expect(decision.lastError == nil)
        #expect(decision.hooks == [.deploy, .recovered])
    }

    @Test(arguments: [
        (SinchErrorClass.permanent, "invalid_facebook_token", 400),
        (.permanent, "log_in_facebook_required", 500),
    ])
    func aDeadTokenGoesToNeedsReauthOnce(errorClass: SinchErrorClass, code: String, status: Int) throws {
        let decision = try #require(decide(Self.error(errorClass, code, status: status)))
        #expect(decision.state == .needsReauth)
        #expect(decision.event == .needsReauth)
        #expect(decision.hooks == [.reauth])
        #expect(decision.lastError?.errorClass == "permanent")
        #expect(decision.lastError?.code == code)
        #expect(!decision.storesNewToken)
        #expect(decision.pauseProjectUntil == nil)
    }

    @Test func aBadRequestRetriesAtTheLongBackoffAndSaysItIsConfiguration() throws {
        let decision = try #require(decide(Self.error(.badRequest, "invalid_business_manager")))
        #expect(decision.state == .retrying)
        #expect(decision.failures == 1)
        #expect(decision.note?.contains("configuration") == true)
        #expect(decision.lastError?.errorClass == "permanent")
        #expect(decision.refreshAt == Self.now + Self.policy.backoffMax)
    }

    @Test func aTransientFailureBacksOffWithinTheCeiling() throws {
        for failures in 0..<8 {
            var token = Self.token
            token.failures = failures
            token.state = failures == 0 ? .active : .retrying
            let decision = try #require(decide(Self.error(.transient, "internal_error", status: 500), token: token))
            #expect(decision.state == .retrying)
            #expect(decision.failures == failures + 1)
            #expect(decision.event == .refreshFailed)
            #expect(decision.hooks == [.failure])
            let ceiling = Self.policy.backoffCeiling(afterFailure: failures + 1)
            #expect(decision.refreshAt > Self.now)
            #expect(decision.refreshAt <= Self.now + ceiling)
        }
    }

    @Test(arguments: [
        (SinchErrorClass.throttled, "http_429", 429),
        (.throttled, "facebook_Request_limit_reached", 500),
        (.credentials, "unauthorized_error", 401),
    ])
    func throttlingAndCredentialsPauseTheProjectWithoutChargingTheToken(
        errorClass: SinchErrorClass,
        code: String,
        status: Int
    ) throws {
        var token = Self.token
        token.failures = 2
        let decision = try #require(decide(Self.error(errorClass, code, status: status), token: token, strikes: 2))
        #expect(decision.failures == 2)
        #expect(decision.state == .retrying)
        let pause = Self.policy.backoffCeiling(afterFailure: 3)
        #expect(decision.pauseProjectUntil == Self.now + pause)
        #expect(decision.refreshAt >= Self.now + pause)
        #expect(decision.lastError?.errorClass == errorClass.rawValue)
    }

    @Test func retryAfterSetsTheProjectPause() throws {
        let decision = try #require(decide(Self.error(.throttled, "http_429", status: 429, retryAfter: .seconds(90))))
        #expect(decision.pauseProjectUntil == Self.now + .seconds(90))
        #expect(decision.refreshAt >= Self.now + .seconds(90))
    }

    /// A Retry-After of 6 days for a token that dies in 23 h once scheduled its next try after its
    /// death: the pause holds the project, but the token is tried at its last safe moment.
    @Test func aPauseLongerThanTheTokensLifeTriesItAtItsLastSafeMoment() throws {
        var token = Self.token
        token.expiresAt = Self.now + .seconds(23 * 3_600)
        let sixDays = Duration.seconds(6 * 86_400)
        for outcome in [
            Self.error(.throttled, "http_429", status: 429, retryAfter: sixDays),
            Self.error(.credentials, "unauthorized", status: 401, retryAfter: sixDays),
        ] {
            let decision = try #require(decide(outcome, token: token))
            #expect(decision.pauseProjectUntil == Self.now + sixDays)
            #expect(decision.refreshAt == token.expiresAt - .seconds(3_600))
            #expect(decision.note?.contains("ends after this token's last safe moment") == true)
        }
        // The longest backoff of a refused request too.
        let refused = try #require(decide(Self.error(.badRequest, "bad_request"), token: token))
        #expect(refused.refreshAt <= token.expiresAt - .seconds(3_600))
    }

    @Test func theThirdTimeoutInARowPausesTheProject() throws {
        let timeout = Self.error(.transient, "timeout", status: nil)
        var random = SeededRandom(seed: 3)
        func decide(_ outcome: RefreshStateMachine.Outcome, timeouts: Int) -> RefreshStateMachine.Decision? {
            guard
                case .commit(let decision) = machine.decide(
                    Self.token,
                    outcome: outcome,
                    now: Self.now,
                    projectTimeouts: timeouts,
                    using: &random
                )
            else { return nil }
            return decision
        }
        #expect(try #require(decide(timeout, timeouts: 1)).pauseProjectUntil == nil)
        let third = try #require(decide(timeout, timeouts: 2))
        let pause = Self.policy.backoffCeiling(afterFailure: 1)
        #expect(third.pauseProjectUntil == Self.now + pause)
        #expect(third.refreshAt >= Self.now + pause)
        #expect(third.failures == 1, "a timeout is still this token's failed attempt")
        #expect(third.note?.hasPrefix("3 calls in a row timed out") == true)
        // Other transient failures do not count as timeouts.
        let refused = Self.error(.transient, "connection_error", status: nil)
        #expect(try #require(decide(refused, timeouts: 5)).pauseProjectUntil == nil)
    }

    @Test func aCancelledAttemptChangesNothing() {
        var random = SeededRandom(seed: 1)
        let action = machine.decide(
            Self.token,
            outcome: Self.error(.cancelled, "cancelled", status: nil),
            now: Self.now,
            using: &random
        )
        #expect(action == .release)
    }

    @Test func aFailurePastExpiryExpiresTheToken() throws {
        var token = Self.token
        token.expiresAt = Self.now - .seconds(1)
        let decision = try #require(decide(Self.error(.transient, "timeout", status: nil), token: token))
        #expect(decision.state == .expired)
        #expect(decision.event == .expired)
        #expect(decision.hooks == [.reauth])
    }

    @Test func retriesNeverGoPastTheLastHourBeforeExpiry() throws {
        var token = Self.token
        token.failures = 20
        token.expiresAt = Self.now + .seconds(2 * 3_600)
        let decision = try #require(decide(Self.error(.transient, "timeout", status: nil), token: token))
        #expect(decision.refreshAt <= token.expiresAt - .seconds(3_600))
        // Inside the last hour: every backoff_min until the end.
        token.expiresAt = Self.now + .seconds(1_800)
        let late = try #require(decide(Self.error(.transient, "timeout", status: nil), token: token))
        #expect(late.refreshAt <= Self.now + Self.policy.backoffMin)
        #expect(late.refreshAt > Self.now)
    }

    @Test(arguments: [(1, 60), (2, 120), (3, 240), (9, 15_360), (10, 21_600), (500, 21_600)])
    func theBackoffCeilingDoublesUpToSixHours(failures: Int, seconds: Int64) {
        #expect(Self.policy.backoffCeiling(afterFailure: failures) == .seconds(seconds))
    }
}

/// SplitMix64: a reproducible random source for tests.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
