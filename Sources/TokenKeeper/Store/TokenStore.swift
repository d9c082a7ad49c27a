import Foundation
import WallTime

/// The store as the domain needs it: tokens, their leases, the audit chain and the key check,
/// read and written in transactions (<doc:Architecture#The-store-seam>).
///
/// The domain owns these protocols and every rule behind them (the audit chain's hashing, the
/// duplicate check, the schedule, the state machine); a backend only keeps rows. Nothing of a
/// driver crosses them: no connection, row or SQL text, only the domain's own values, so a second
/// backend goes beside the first without touching the engine. `TokenKeeperSQLite` is the one
/// backend today.
package protocol TokenStore: AnyObject, Sendable {
    /// Where the store is, for messages: a file's path.
    var location: String { get }
    /// The folder a recovery file goes to (the database's own folder), or nil for a store that
    /// has none on this host.
    var folder: String? { get }
    /// Nil when the store still answers where it was opened; else what is wrong (for `/healthz`).
    func healthProblem() -> String?
    /// Runs `body` in one consistent read.
    func read<T>(_ body: (any StoreReading) throws -> T) throws -> T
    /// Runs `body` in one write transaction: everything it writes commits together or not at all.
    /// `bulk` tells the backend a very large transaction follows (`import`).
    func write<T>(bulk: Bool, _ body: (any StoreWriting) throws -> T) throws -> T
    /// Runs `body`, which sends one statement, as a write of its own: a backend may send it
    /// without a transaction around it (one round trip instead of three on PostgreSQL).
    func writeStatement<T>(_ body: (any StoreWriting) throws -> T) throws -> T
    /// Calls `onChange` soon after any process adds tokens or moves when one is due, so a daemon
    /// need not wait for its timer; nil when the backend cannot tell (the scheduler's timer cap
    /// finds such tokens then). Stops when the returned watch is cancelled.
    func watchChanges(_ onChange: @escaping @Sendable () -> Void) -> (any StoreWatch)?
    /// An error from inside one of this store's transactions, as the message a person reads (a
    /// ``TokenKeeperError`` stays as it is). ``read(_:)`` and ``write(bulk:_:)`` throw only such
    /// errors; code working in two stores at once (`copy`) maps each store's own with it.
    func mapError(_ error: any Error) -> TokenKeeperError
    /// Whether `error` may pass if the same transaction is tried again soon: a busy database, a
    /// deadlock, a connection the server dropped (not a full disk, nor a refused statement).
    func isTransient(_ error: any Error) -> Bool
    /// From now on, each write transaction that appends to the audit chain also stores the seal
    /// `sealer` gives for the new head (``TokenSealer/nextSeal(stored:from:to:)``), in the same
    /// transaction. ``bind(to:)`` installs it.
    func installAuditSealer(_ sealer: TokenSealer)
}

/// A running ``TokenStore/watchChanges(_:)``.
package protocol StoreWatch: Sendable {
    func cancel()
}

extension TokenStore {
    /// A busy database or a deadlock (``TokenKeeperError/Code/databaseLocked``).
    package func isTransient(_ error: any Error) -> Bool { mapError(error).code == .databaseLocked }

    /// No notifications: the scheduler's timer cap notices other processes' changes.
    package func watchChanges(_ onChange: @escaping @Sendable () -> Void) -> (any StoreWatch)? { nil }

    /// A write transaction of ordinary size.
    package func write<T>(_ body: (any StoreWriting) throws -> T) throws -> T {
        try write(bulk: false, body)
    }

    /// A write transaction: one statement in one costs SQLite nothing more.
    package func writeStatement<T>(_ body: (any StoreWriting) throws -> T) throws -> T {
        try write(bulk: false, body)
    }
}

/// Opens and creates stores of one backend; the executable chooses it.
package protocol StoreBackend: Sendable {
    /// The existing store at `location`, its schema brought up to date (never written when
    /// `readOnly`); a clear error when there is none.
    func open(at location: String, readOnly: Bool) throws -> any TokenStore
    /// The store at `location` when one exists there (for `init`), else nil.
    func openIfPresent(at location: String) throws -> (any TokenStore)?
    /// Creates a store with its schema at `location`.
    func create(at location: String) throws -> any TokenStore
}

/// Which states a question is about. A backend may keep an index for ``attention`` and
/// ``live`` (the scheduler's and `check`'s questions).
package enum TokenStates: Sendable, Equatable {
    case all
    /// ``TokenState/live``: the scheduler's tokens.
    case live
    /// ``TokenState/attention``: tokens that need a person.
    case attention
    case only(TokenState)
}

/// Tokens to read, in expiry order.
package struct TokenFilter: Sendable, Equatable {
    package var states: TokenStates
    /// Only tokens expiring at or before this instant.
    package var expiringBy: UnixTime?
    package var project: String?
    package var limit: Int?

    package init(states: TokenStates = .all, expiringBy: UnixTime? = nil, project: String? = nil, limit: Int? = nil) {
        self.states = states
        self.expiringBy = expiringBy
        self.project = project
        self.limit = limit
    }
}

/// A claimed token's outcome as it is written: the token row's new values, checked against the
/// lease and `version` it was claimed with.
package struct TokenOutcomeWrite: Sendable {
    package var id: String
    /// The lease holder and version of the claim; a row that no longer matches is left as it is.
    package var owner: String
    package var version: Int
    /// The new token, sealed, and its fingerprint; nil keeps the stored one.
    package var sealedToken: Data?
    package var fingerprint: String?
    package var issuedAt: UnixTime
    package var expiresAt: UnixTime
    /// Nil keeps the stored value.
    package var lastRefreshedAt: UnixTime?
    package var state: TokenState
    package var failures: Int
    package var refreshAt: UnixTime
    package var lastError: LastError?

    package init(
        id: String,
        owner: String,
        version: Int,
        sealedToken: Data?,
        fingerprint: String?,
        issuedAt: UnixTime,
        expiresAt: UnixTime,
        lastRefreshedAt: UnixTime?,
        state: TokenState,
        failures: Int,
        refreshAt: UnixTime,
        lastError: LastError?
    ) {
        self.id = id
        self.owner = owner
        self.version = version
        self.sealedToken = sealedToken
        self.fingerprint = fingerprint
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.lastRefreshedAt = lastRefreshedAt
        self.state = state
        self.failures = failures
        self.refreshAt = refreshAt
        self.lastError = lastError
    }
}

/// What every transaction can read.
package protocol StoreReading {
    // Key check
    /// The stored key check, nil before a key is bound.
    func keyCheck() throws -> String?
    /// The audit chain's stored seal (``AuditSeal``'s text), nil when there is none.
    func auditSeal() throws -> String?
    /// Whether the store holds a token row or an audit row, read from the tables themselves
    /// (never a count cache an unkeyed writer can empty): a store without either is new.
    func hasHistory() throws -> Bool

    // Tokens
    func token(id: String) throws -> TokenRecord?
    /// Calls `body` with each token that `filter` selects, soonest expiry first, streaming.
    func forEachToken(_ filter: TokenFilter, _ body: (TokenRecord) throws -> Void) throws
    /// How many tokens in `states` expire after `after` (nil: any time) and at or before `upTo`
    /// (nil: any time).
    func countTokens(_ states: TokenStates, expiringAfter after: UnixTime?, upTo: UnixTime?) throws -> Int
    /// Every state with its number of tokens (states without tokens may be missing).
    func countTokensByState() throws -> [TokenState: Int]
    /// How many token rows the table holds, counted from the rows, never from a cache: what
    /// `status` checks the cached counts against.
    func countTokenRows() throws -> Int
    /// The id and sealed value of each token whose fingerprint is `fingerprint`.
    func sealedTokens(withFingerprint fingerprint: String) throws -> [(id: String, sealed: Data)]
    /// Calls `body` with the fingerprint of every token.
    func forEachFingerprint(_ body: (String) -> Void) throws
    /// How many sealed tokens start with each of `prefixes` (a key's header), in order.
    func countSealedTokens(startingWith prefixes: [Data]) throws -> [Int]
    /// Up to `limit` tokens' ids and sealed values after `id` (nil: from the first), in id order.
    func sealedTokenPage(after id: String?, limit: Int) throws -> [(id: String, sealed: Data)]

    // The scheduler
    /// Live tokens due at `now` that nobody holds, soonest first.
    func dueTokenIDs(now: UnixTime, limit: Int) throws -> [String]
    /// The earliest `refresh_at` among live tokens nobody holds at `now`.
    func nextRefresh(now: UnixTime) throws -> UnixTime?
    /// How many live tokens are due at `now`, held or not, counted in the refresh index alone
    /// (a dry run's count: ``dueTokenIDs(now:limit:)`` also leaves out the tokens another
    /// process holds, which would read every due row).
    func countDueTokens(now: UnixTime) throws -> Int
    /// Active tokens whose probe is due at `now` that nobody holds, soonest first.
    func dueProbeIDs(now: UnixTime, limit: Int) throws -> [String]
    /// The earliest probe time of an active token nobody holds at `now`.
    func nextProbe(now: UnixTime) throws -> UnixTime?

    // Metrics and status
    /// Up to `limit` tokens of `scope` after `cursor` (nil: from the start), in the scope's
    /// order, with each one's expiry (`refresh` false) or, for live tokens only, next refresh
    /// (`refresh` true).
    func tokenSeriesPage(
        refresh: Bool,
        scope: TokenSeriesScope,
        after cursor: TokenSeriesCursor?,
        limit: Int
    ) throws -> [TokenSeriesRow]
    /// The earliest expiry among tokens in `states`.
    func earliestExpiry(_ states: TokenStates) throws -> UnixTime?
    /// When the audit log's first row about a token was written: since when the store has held
    /// tokens (nil: never). The first rows in seq order, not a scan.
    func firstTokenAuditAt() throws -> UnixTime?
    /// Every refresher whose last heartbeat is at or after `since`, most recent first.
    func refreshers(seenSince since: UnixTime) throws -> [RefresherHeartbeat]

    // Audit
    /// The chain's last row (seq 0 and the genesis hash when empty). In a write transaction, the
    /// backend keeps the chain from forking: no other append can come between this and commit.
    func auditTail() throws -> AuditLog.Tail
    /// Calls `body` with each audit row `query` selects, in seq order; with a limit, the newest.
    func forEachAuditRecord(_ query: AuditLog.Query, _ body: (AuditRecord) throws -> Void) throws
    /// Whether `tokenID` has an audit row after `seq`.
    func hasAuditRecord(tokenID: String, after seq: Int64) throws -> Bool
    /// The append-only guards of the audit table (its triggers) that are missing, disabled or
    /// no longer refuse: what lets a writer rewrite rows and recompute the chain. Empty when all
    /// are in place.
    func missingAuditGuards() throws -> [String]
}

extension StoreReading {
    /// How many tokens are in `states`, whatever their expiry.
    package func countTokens(_ states: TokenStates) throws -> Int {
        try countTokens(states, expiringAfter: nil, upTo: nil)
    }
}

/// What a write transaction can do besides read.
package protocol StoreWriting: StoreReading {
    /// Stores the key check of a store that has none.
    func setKeyCheck(_ check: String) throws
    /// The key check, held until the transaction ends (PostgreSQL: `FOR SHARE`), so that no
    /// `key rotate` moves it before a commit that sealed under it lands.
    func lockKeyCheck() throws -> String?
    /// Replaces the key check when it is still `old` (atomic: of two writers that both read
    /// `old`, one replaces it); whether it did.
    func replaceKeyCheck(_ old: String, with new: String) throws -> Bool
    /// Stores the audit chain's seal, replacing any.
    func setAuditSeal(_ seal: String) throws
    /// Replaces the sealed value of `id` when it is still `old` (`key rotate`: a refresh that
    /// wrote a new token meanwhile wins); whether it did.
    func replaceSealedToken(id: String, from old: Data, to new: Data) throws -> Bool

    /// Inserts a new token row; false (and nothing written) when its id is taken.
    func insertToken(_ record: TokenRecord) throws -> Bool
    /// ``insertToken(_:)`` for each of `records` in one go (a backend may send one statement);
    /// the ids that were taken, in the order of `records`.
    func insertTokens(_ records: [TokenRecord]) throws -> [String]
    /// Writes every field of `record` over the stored row with its id.
    func updateToken(_ record: TokenRecord) throws
    func deleteToken(id: String) throws

    /// Appends a row that ``AuditLog`` linked to the tail.
    func appendAudit(_ record: AuditRecord) throws
    /// Puts the audit table's append-only guards back as the schema made them (replacing any
    /// of the same name that was disabled or hollowed out).
    func restoreAuditGuards() throws

    /// Takes the lease on `id` for `owner` until `until` when the token is live, free at `now`
    /// and (with `onlyIfDue`) due; the record as claimed, or nil.
    func claimLease(id: String, owner: String, until: UnixTime, now: UnixTime, onlyIfDue: Bool) throws -> TokenRecord?
    /// ``claimLease(id:owner:until:now:onlyIfDue:)`` for each of `ids` in one go, in the order
    /// of `ids`; a token another transaction is claiming at this moment is passed over, not
    /// waited for. A backend may do it in one statement.
    func claimLeases(
        ids: [String],
        owner: String,
        until: UnixTime,
        now: UnixTime,
        onlyIfDue: Bool
    ) throws -> [TokenRecord]
    /// Lets go of `owner`'s lease on `id`, changing nothing else.
    func releaseLease(id: String, owner: String) throws
    /// Moves `owner`'s lease on `id` at `version` to `until`; false when it is not held so.
    func renewLease(id: String, owner: String, version: Int, until: UnixTime) throws -> Bool
    /// Writes an outcome, clears its lease and adds one to `version`; false when the lease or
    /// version no longer match (nothing written).
    func applyOutcome(_ outcome: TokenOutcomeWrite) throws -> Bool
    /// ``applyOutcome(_:)`` for each of `outcomes` (distinct tokens) in one go (a backend may
    /// send one statement); whether each was written, in order.
    func applyOutcomes(_ outcomes: [TokenOutcomeWrite]) throws -> [Bool]
    /// Takes up to `wanted` of the `limit` call places of `project` in rate window `window`
    /// (``FleetRate``), from place `from` on (those before it are past), for every process on
    /// the store: each place goes to one call only. The places it got, in order (empty when the
    /// window is spent). Forgets windows outside `keeping`.
    func takeRatePlaces(
        project: String,
        window: Int64,
        limit: Int,
        wanted: Int,
        from: Int,
        keeping: ClosedRange<Int64>
    ) throws -> Range<Int>
    /// Moves the live tokens of `project` due before `until` to `until`, never past
    /// `expires_at - margin` nor earlier than their own schedule; tokens another owner holds at
    /// `now` are left alone. `version` stays.
    func postponeProject(_ project: String, until: UnixTime, margin: Duration, now: UnixTime, owner: String) throws
    /// Gives every active token without a probe time one, spread evenly over `now` to
    /// `now + every`; how many. A scan of the tokens: the engine runs it at most hourly.
    func scheduleProbes(now: UnixTime, every: Duration) throws -> Int
    /// Records that `owner`, holding the lease on `id`, had an answer from a probe at `at` (nil:
    /// no answer, `last_probed_at` stays); the next probe at `next` (nil: none). The lease
    /// stays; `version` stays. False when the lease is not held.
    func recordProbe(id: String, owner: String, at: UnixTime?, next: UnixTime?) throws -> Bool
    /// Writes `beat` over the refresher's last one, and forgets refreshers last seen before
    /// `forgetBefore`.
    func recordHeartbeat(_ beat: RefresherHeartbeat, forgetBefore: UnixTime) throws
}

extension StoreWriting {
    /// One ``applyOutcome(_:)`` after another.
    package func applyOutcomes(_ outcomes: [TokenOutcomeWrite]) throws -> [Bool] {
        try outcomes.map(applyOutcome)
    }

    /// One ``insertToken(_:)`` after another.
    package func insertTokens(_ records: [TokenRecord]) throws -> [String] {
        try records.filter { try !insertToken($0) }.map(\.id)
    }

    /// One ``claimLease(id:owner:until:now:onlyIfDue:)`` after another (SQLite has one writer,
    /// so no other transaction can be claiming meanwhile).
    package func claimLeases(
        ids: [String],
        owner: String,
        until: UnixTime,
        now: UnixTime,
        onlyIfDue: Bool
    ) throws -> [TokenRecord] {
        try ids.compactMap { try claimLease(id: $0, owner: owner, until: until, now: now, onlyIfDue: onlyIfDue) }
    }
}
