import SinchProvisioning

/// The CLI's Sinch calls, with the store around them: `add --code-stdin`, `wabas`,
/// `enable-template-analytics`.
package struct SinchOperations: Sendable {
    package let client: SinchClient
    package let inventory: Inventory
    /// How long a token Sinch returned waits for a busy database before it goes to a recovery
    /// file (`limits.exchange_store_wait`): far longer than the busy timeout, the code is spent.
    package var storeWait: Duration
    /// Told, now and then, that the database is busy and how long the wait may still last.
    package var onWait: @Sendable (String) -> Void

    package init(
        client: SinchClient,
        inventory: Inventory,
        storeWait: Duration = TokenKeeperConfiguration.Limits().exchangeStoreWait,
        onWait: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.client = client
        self.inventory = inventory
        self.storeWait = storeWait
        self.onWait = onWait
    }

    /// Exchanges an Embedded Signup code and stores the long-lived token it yields, as a new
    /// record or into `replacing`, audited `exchanged` (or `replaced`).
    ///
    /// Everything that can be checked is checked before the call: a code is single-use, so the
    /// exchange must not happen when the result could not be stored.
    package func exchange(code: String, _ new: NewToken, replacing id: String? = nil) async throws -> TokenRecord {
        if let problem = TokenValue.problem(code, noun: "code") { throw TokenKeeperError(.invalidInput, problem) }
        let new = try inventory.checkExchanged(new, replacing: id)
        let token: String
        do {
            token = try await client.exchangeCode(code, project: new.project, businessManager: new.businessManager)
        } catch {
            throw TokenKeeperError(error, while: "exchanging the code")
        }
        return try await store(exchanged: token, new, replacing: id)
    }

    /// Stores a token Sinch has just returned. The code is spent, so the token is never dropped:
    /// a busy database is waited for up to ``storeWait`` (saying so now and then), and a token
    /// that still cannot be stored is sealed into a 0600 recovery file beside the database, which
    /// the error names with the command that stores it later.
    func store(exchanged token: String, _ new: NewToken, replacing id: String?) async throws -> TokenRecord {
        let obtained = inventory.clock.now
        let started = ContinuousClock.now
        var nextNote = started
        while true {
            do {
                if let id {
                    return try inventory.replace(id: id, token: token, new, source: "code")
                }
                return try inventory.add(token: token, new, event: .exchanged, source: "code")
            } catch let error as TokenKeeperError where error.code == .databaseLocked {
                let now = ContinuousClock.now
                if now - started < storeWait {
                    if now >= nextNote {
                        let left = DurationText.format(.seconds((storeWait - (now - started)).wholeSeconds))
                        onWait(
                            "the database is busy (another process is writing); waiting up to \(left) more to store "
                                + "the token Sinch returned (the code is spent)"
                        )
                        nextNote = now + .seconds(15)
                    }
                    try? await Task.sleep(for: .milliseconds(250))
                    continue
                }
                throw keep(token, new, replacing: id, obtained: obtained, after: error)
            } catch let error as TokenKeeperError where error.code != .alreadyStored {
                throw keep(token, new, replacing: id, obtained: obtained, after: error)
            }
        }
    }

    /// Seals `token` into a recovery file after `error`; the error to report, naming the file.
    private func keep(
        _ token: String,
        _ new: NewToken,
        replacing id: String?,
        obtained: UnixTime,
        after error: TokenKeeperError
    ) -> TokenKeeperError {
        do {
            let path = try inventory.keepInRecoveryFile(token, new, replacing: id, obtainedAt: obtained)
            return TokenKeeperError(
                error.code,
                "\(error.message); the token Sinch returned is kept sealed in \(path) (0600): store it with "
                    + "`tokenkeeper add --recover \(path)` once the database is writable"
            )
        } catch let keeping {
            return TokenKeeperError(
                error.code,
                "\(error.message); the code was spent and the token Sinch returned could not be kept either "
                    + "(\(keeping)): redo Embedded Signup for a new code"
            )
        }
    }

    /// The WABAs and numbers the stored token `id` reaches (`wabaDetails`).
    package func wabas(id: String) async throws -> [WABA] {
        let record = try inventory.token(id: id)
        let token = try inventory.unsealed(record)
        do {
            return try await client.wabaDetails(token: token, project: record.projectID)
        } catch {
            throw TokenKeeperError(error, while: "asking Sinch for the WABAs of \(id)")
        }
    }

    /// Turns on template analytics for `project`; needs no database.
    package static func enableTemplateAnalytics(project: String, client: SinchClient) async throws {
        guard !project.isEmpty else { throw TokenKeeperError(.usage, "--project must not be empty") }
        do {
            try await client.enableTemplateAnalytics(project: project)
        } catch {
            throw TokenKeeperError(error, while: "enabling template analytics for project \(project)")
        }
    }
}
