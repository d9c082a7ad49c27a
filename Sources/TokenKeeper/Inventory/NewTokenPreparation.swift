import Foundation

/// The one path a new token takes into the store, shared by `add` and `import`: check the
/// value, schedule it, draw an id, seal and fingerprint it (off the writer's thread), then insert
/// it with its `added` audit row.
extension Inventory {
    /// A checked, scheduled and sealed token, ready to insert.
    struct PreparedToken: Sendable {
        var id: String
        var value: String
        var sealed: Data
        var fingerprint: String
        var new: NewToken
        var issued: UnixTime
        var expires: UnixTime
        var refresh: UnixTime
        /// The `added` audit row's detail, encoded before the write transaction.
        var auditDetail: String
        /// The input line it came from (`import`), for messages.
        var line = 0

        /// The row to insert: active, no failures, version 1.
        var record: TokenRecord {
            TokenRecord(
                id: id,
                projectID: new.project,
                label: new.label,
                wabaID: new.waba,
                businessManager: new.businessManager,
                sealedToken: sealed,
                fingerprint: fingerprint,
                issuedAt: issued,
                expiresAt: expires,
                refreshAt: refresh
            )
        }
    }

    /// Everything about a new token that needs no database; the failure says what is wrong with
    /// the value or its times and never quotes the value.
    func prepare(
        token: String,
        _ new: NewToken,
        source: String,
        sealer: TokenSealer,
        now: UnixTime,
        using generator: inout some RandomNumberGenerator
    ) -> Result<PreparedToken, TokenKeeperError> {
        if let problem = TokenValue.problem(token) ?? new.problem() {
            return .failure(TokenKeeperError(.invalidInput, problem))
        }
        let times: (issued: UnixTime, expires: UnixTime, refresh: UnixTime)
        switch schedule(new, now: now, using: &generator) {
        case .success(let value): times = value
        case .failure(let error): return .failure(error)
        }
        let id = TokenID.generate(using: &generator)
        let fingerprint = sealer.fingerprint(token)
        return Result {
            PreparedToken(
                id: id,
                value: token,
                sealed: try sealer.seal(token, id: id),
                fingerprint: fingerprint,
                new: new,
                issued: times.issued,
                expires: times.expires,
                refresh: times.refresh,
                auditDetail: try audit.encode(
                    AuditDetail(fingerprint: fingerprint, project: new.project, source: source)
                )
            )
        }
        .mapError { _ in TokenKeeperError(.database, "the token could not be sealed") }
    }

    /// Inserts a prepared token and its `added` (or `event`) audit row after `tail`; returns the id it got.
    ///
    /// A token value already stored (in any record) is refused with ``TokenKeeperError/Code/alreadyStored``
    /// and nothing is written: a second record would be refreshed apart from the first, and the
    /// customer's app handed two different tokens; `mayBeStored` false skips that lookup, for a
    /// caller that knows no stored token has this fingerprint. A random id can collide with a stored one:
    /// then it draws another and seals again (the id is the associated data), rather than fail.
    @discardableResult
    func insert(
        _ token: PreparedToken,
        _ store: any StoreWriting,
        after tail: inout AuditLog.Tail,
        sealer: TokenSealer,
        at now: UnixTime,
        event: AuditEvent = .added,
        mayBeStored: Bool = true,
        using generator: inout some RandomNumberGenerator
    ) throws -> String {
        if mayBeStored,
            let stored = try storedID(of: token.value, fingerprint: token.fingerprint, store, sealer: sealer)
        {
            throw Self.alreadyStored(stored)
        }
        var token = token
        var attempts = 0
        while try !store.insertToken(token.record) {
            attempts += 1
            guard attempts < 8 else { throw TokenKeeperError(.database, "could not draw an unused token id") }
            token.id = TokenID.generate(using: &generator)
            token.sealed = try sealer.seal(token.value, id: token.id)
        }
        try audit.append(store, after: &tail, event: event, tokenID: token.id, detailJSON: token.auditDetail, at: now)
        return token.id
    }

    /// The id of the record that holds `value` (whose fingerprint is `fingerprint`), if any but
    /// `except`. Fingerprints are 64 bits: a match is confirmed by opening the stored value.
    func storedID(
        of value: String,
        fingerprint: String,
        _ store: any StoreReading,
        sealer: TokenSealer,
        except: String? = nil
    ) throws -> String? {
        for (id, sealed) in try store.sealedTokens(withFingerprint: fingerprint) where id != except {
            if (try? sealer.open(sealed, id: id)) == value { return id }
        }
        return nil
    }

    static func alreadyStored(_ id: String) -> TokenKeeperError {
        TokenKeeperError(
            .alreadyStored,
            "this token is already stored as \(id); nothing was added (`--replace \(id)` puts a new token into that record)"
        )
    }
}
