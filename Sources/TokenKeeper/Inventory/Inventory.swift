import Foundation
import WallTime

/// The store as the inventory commands see it: add, replace, list, show, reveal, remove.
///
/// Every change writes its audit row in the same transaction. Commands that seal or open a token
/// carry a ``TokenSealer`` already bound to the database (the key check passed); the others,
/// `list` and `check` among them, need no key at all.
package struct Inventory: Sendable {
    package let store: any TokenStore
    package let policy: RenewalPolicy
    package let clock: any WallClock
    package let audit: AuditLog
    let sealer: TokenSealer?

    package init(
        store: any TokenStore,
        policy: RenewalPolicy,
        clock: any WallClock = SystemClock(),
        actor: String,
        sealer: TokenSealer? = nil
    ) {
        self.store = store
        self.policy = policy
        self.clock = clock
        self.audit = AuditLog(actor: actor)
        self.sealer = sealer
    }

    func requireSealer() throws -> TokenSealer {
        guard let sealer else { throw TokenKeeperError(.configuration, "this command needs the master key") }
        return sealer
    }

    /// Seals `token`, which Sinch returned and the store could not take, into a new recovery file
    /// (``RecoveryFile``) with the details `add --recover` stores it with; the file's path.
    func keepInRecoveryFile(
        _ token: String,
        _ new: NewToken,
        replacing id: String?,
        obtainedAt: UnixTime
    ) throws -> String {
        try RecoveryFile.write(
            token: token,
            new,
            replacing: id,
            sealer: try requireSealer(),
            obtainedAt: obtainedAt,
            folder: recoveryFolder
        )
    }

    /// Where a token that could not be stored goes: beside an SQLite file, or for a server's
    /// database beside the key file (the 0700 state folder; a daemon's working folder may be
    /// `/`), else the working folder.
    private var recoveryFolder: String {
        if let folder = store.folder { return folder }
        if case .file(let path)? = sealer?.keyring.source {
            return URL(fileURLWithPath: path).deletingLastPathComponent().path
        }
        return "."
    }

    // MARK: - Schedule

    /// How far a given time may run ahead of this host's clock (another host's clock, a slow paste).
    static let clockSlack: Duration = .seconds(300)

    /// The issue time, expiry and first refresh of a new token, or what is wrong with its times.
    func schedule(
        _ new: NewToken,
        now: UnixTime,
        using generator: inout some RandomNumberGenerator
    ) -> Result<(issued: UnixTime, expires: UnixTime, refresh: UnixTime), TokenKeeperError> {
        let issued: UnixTime
        let expires: UnixTime
        if let expiresAt = new.expiresAt {
            guard expiresAt > now else {
                return .failure(
                    TokenKeeperError(
                        .invalidInput,
                        "expires_at \(RFC3339.format(expiresAt)) is in the past: the token is dead and needs a new Embedded Signup"
                    )
                )
            }
            // A token lives one lifetime from its issue: a later expiry is a typo (2999 for
            // 2027), and the token would never be refreshed while the real one dies.
            guard expiresAt <= now + policy.lifetime + Self.clockSlack else {
                return .failure(
                    TokenKeeperError(
                        .invalidInput,
                        "expires_at \(RFC3339.format(expiresAt)) is more than a lifetime ahead (policy.lifetime "
                            + "\(DurationText.format(policy.lifetime))): a token dies that long after it is issued at the latest"
                    )
                )
            }
            expires = expiresAt
            issued = min(new.issuedAt ?? expiresAt - policy.lifetime, now)
        } else if let issuedAt = new.issuedAt {
            guard issuedAt <= now + Self.clockSlack else {
                return .failure(
                    TokenKeeperError(.invalidInput, "issued_at \(RFC3339.format(issuedAt)) is in the future")
                )
            }
            expires = issuedAt + policy.lifetime
            guard expires > now else {
                return .failure(
                    TokenKeeperError(
                        .invalidInput,
                        "a token issued at \(RFC3339.format(issuedAt)) expired at \(RFC3339.format(expires)) (lifetime \(DurationText.format(policy.lifetime)))"
                    )
                )
            }
            issued = issuedAt
        } else {
            issued = now
            expires = now + policy.lifetime
        }
        let refresh = policy.firstRefresh(issuedAt: issued, expiresAt: expires, using: &generator)
        return .success((issued, expires, refresh))
    }

    // MARK: - Add and replace

    /// Stores a new token and audits `event` (`added`, or `exchanged` for a token obtained from an
    /// Embedded Signup code); returns the stored record.
    package func add(
        token: String,
        _ new: NewToken,
        event: AuditEvent = .added,
        source: String = "add"
    ) throws -> TokenRecord {
        let sealer = try requireSealer()
        guard !new.project.isEmpty else { throw TokenKeeperError(.usage, "--project must not be empty") }
        if let problem = new.problem() { throw TokenKeeperError(.invalidInput, problem) }
        var generator = SystemRandom()
        let now = clock.now
        let prepared = try prepare(token: token, new, source: source, sealer: sealer, now: now, using: &generator).get()
        return try store.write { store in
            var tail = try store.auditTail()
            let id = try insert(prepared, store, after: &tail, sealer: sealer, at: now, event: event, using: &generator)
            guard let record = try store.token(id: id) else { throw Self.notFound(id) }
            return record
        }
    }

    /// Puts a new token value into an existing record (the way back from `needs_reauth`):
    /// state `active`, failures cleared, audited `replaced` with both fingerprints.
    package func replace(id: String, token: String, _ new: NewToken, source: String? = nil) throws -> TokenRecord {
        let sealer = try requireSealer()
        if let problem = TokenValue.problem(token) ?? new.problem(projectRequired: false) {
            throw TokenKeeperError(.invalidInput, problem)
        }
        var generator = SystemRandom()
        let now = clock.now
        let times = try schedule(new, now: now, using: &generator).get()
        let fingerprint = sealer.fingerprint(token)
        return try store.write { store in
            guard var record = try store.token(id: id) else { throw Self.notFound(id) }
            try Self.checkSameProject(record, new.project)
            if let stored = try storedID(of: token, fingerprint: fingerprint, store, sealer: sealer, except: id) {
                throw TokenKeeperError(
                    .alreadyStored,
                    "this token is already stored as \(stored); nothing was replaced (remove one record, or give \(id) another token)"
                )
            }
            let oldFingerprint = record.fingerprint
            record.label = new.label ?? record.label
            record.wabaID = new.waba ?? record.wabaID
            record.businessManager = new.businessManager ?? record.businessManager
            record.sealedToken = try sealer.seal(token, id: id)
            record.fingerprint = fingerprint
            record.issuedAt = times.issued
            record.expiresAt = times.expires
            record.refreshAt = times.refresh
            record.state = .active
            record.failures = 0
            record.lastError = nil
            record.leaseOwner = nil
            record.leaseUntil = nil
            record.version += 1
            try store.updateToken(record)
            try audit.append(
                store,
                event: .replaced,
                tokenID: id,
                detail: AuditDetail(
                    oldFingerprint: oldFingerprint,
                    newFingerprint: fingerprint,
                    project: record.projectID,
                    source: source
                ),
                at: now
            )
            return record
        }
    }

    // MARK: - Read

    /// The filters of `tokenkeeper list`.
    package struct Query: Sendable {
        package var expiringWithin: Duration?
        package var state: TokenState?
        package var project: String?
        package var limit: Int?

        package init(
            expiringWithin: Duration? = nil,
            state: TokenState? = nil,
            project: String? = nil,
            limit: Int? = nil
        ) {
            self.expiringWithin = expiringWithin
            self.state = state
            self.project = project
            self.limit = limit
        }
    }

    /// Calls `body` with each matching token in expiry order, streaming from the store.
    package func forEachToken(matching query: Query, _ body: (TokenRecord) throws -> Void) throws {
        let filter = TokenFilter(
            states: query.state.map(TokenStates.only) ?? .all,
            expiringBy: query.expiringWithin.map { clock.now + $0 },
            project: query.project,
            limit: query.limit
        )
        try store.read { try $0.forEachToken(filter, body) }
    }

    /// The token `id`, or a not-found error.
    package func token(id: String) throws -> TokenRecord {
        guard let record = try store.read({ try $0.token(id: id) }) else { throw Self.notFound(id) }
        return record
    }

    /// Fails as `add` would on `new`'s details and times, before anything irreversible (a code
    /// exchange) happens.
    package func checkSchedule(_ new: NewToken) throws {
        if let problem = new.problem(projectRequired: false) { throw TokenKeeperError(.invalidInput, problem) }
        var generator = SystemRandom()
        _ = try schedule(new, now: clock.now, using: &generator).get()
    }

    /// The token value of `record`, for a call to Sinch on its behalf; not audited, because it
    /// leaves the process only to Sinch. Use ``reveal(id:)`` to show a token to a person.
    package func unsealed(_ record: TokenRecord) throws -> String {
        try requireSealer().open(record.sealedToken, id: record.id)
    }

    /// `--replace` keeps a record's project: fails when `project` (if given) names another one.
    static func checkSameProject(_ record: TokenRecord, _ project: String) throws {
        guard !project.isEmpty, project != record.projectID else { return }
        throw TokenKeeperError(
            .usage,
            "\(record.id) belongs to project \(record.projectID), not \(project); --replace keeps the project"
        )
    }

    /// Opens and returns the token value of `id`, auditing `revealed` in the same transaction.
    package func reveal(id: String) throws -> String {
        let sealer = try requireSealer()
        let now = clock.now
        return try store.write { store in
            guard let record = try store.token(id: id) else { throw Self.notFound(id) }
            let token = try sealer.open(record.sealedToken, id: id)
            try audit.append(
                store,
                event: .revealed,
                tokenID: id,
                detail: AuditDetail(fingerprint: record.fingerprint, project: record.projectID),
                at: now
            )
            return token
        }
    }

    /// Deletes the token `id` and audits `removed`; its audit history stays.
    package func remove(id: String) throws {
        // Its audit row is sealed: a keyless remove would leave the seal behind the head.
        _ = try requireSealer()
        let now = clock.now
        try store.write { store in
            guard let record = try store.token(id: id) else { throw Self.notFound(id) }
            try store.deleteToken(id: id)
            try audit.append(
                store,
                event: .removed,
                tokenID: id,
                detail: AuditDetail(fingerprint: record.fingerprint, project: record.projectID),
                at: now
            )
        }
    }

    static func notFound(_ id: String) -> TokenKeeperError {
        TokenKeeperError(.notFound, "no token with id \(id) (see `tokenkeeper list`)")
    }
}

// MARK: - Audit

extension Inventory {
    /// Calls `body` with each matching audit event in seq order; with a limit, the most recent.
    package func forEachAuditEvent(matching query: AuditLog.Query, _ body: (AuditRecord) throws -> Void) throws {
        try store.read { try $0.forEachAuditRecord(query, body) }
    }

    /// Walks the audit chain, checks that each of `anchors` is still in it and, with the master
    /// key, that the chain's seal matches its head.
    package func verifyAudit(anchors: [AuditLog.Anchor] = []) throws -> AuditLog.Verification {
        try store.read { try AuditLog.verify($0, anchors: anchors, sealer: sealer) }
    }

    /// Puts back the audit table's append-only triggers that are missing, disabled or hollowed
    /// out, audited `triggers_restored`; their names (empty: all were in place, nothing written).
    package func restoreAuditGuards() throws -> [String] {
        _ = try requireSealer()
        return try store.write { store in
            let missing = try store.missingAuditGuards()
            guard !missing.isEmpty else { return [] }
            try store.restoreAuditGuards()
            try audit.append(
                store,
                event: .triggersRestored,
                tokenID: nil,
                detail: AuditDetail(note: missing.joined(separator: ", ")),
                at: clock.now
            )
            return missing
        }
    }

    /// Seals the chain's head as it is now, over whatever seal is stored, audited
    /// `audit_resealed` with what the old seal covered: after a person checked the chain against
    /// anchors (a host wrote without the key, an old binary appended). A chain that does not link
    /// is refused (65). The head it sealed.
    package func resealAudit() throws -> AuditLog.Tail {
        let sealer = try requireSealer()
        return try store.write { store in
            // The head first: on PostgreSQL that locks it, so no row comes in after the walk.
            let tail = try store.auditTail()
            if case .broken(let seq, let reason) = try AuditLog.verify(store) {
                throw TokenKeeperError(
                    .invalidInput,
                    "the audit chain is broken at seq \(seq) (\(reason)); a seal would vouch for it: nothing was written"
                )
            }
            let previous = try store.auditSeal().map { text in
                AuditSeal(text).map { "seq \($0.seq) under key \($0.keyID)" } ?? "not a seal"
            }
            try store.setAuditSeal(sealer.sealHead(tail).description)
            let record = try audit.append(
                store,
                event: .auditResealed,
                tokenID: nil,
                detail: AuditDetail(note: "previous seal: " + (previous ?? "none")),
                at: clock.now
            )
            return AuditLog.Tail(seq: record.seq, hash: record.hash)
        }
    }

    /// The audit chain's newest row.
    package func auditHead() throws -> AuditLog.Head {
        try store.read { try AuditLog.Head.read($0) }
    }
}
