import SinchProvisioning

/// The CLI's Sinch calls, with the store around them: `add --code-stdin`, `wabas`,
/// `enable-template-analytics`.
public struct SinchOperations: Sendable {
    public let client: SinchClient
    public let inventory: Inventory

    public init(client: SinchClient, inventory: Inventory) {
        self.client = client
        self.inventory = inventory
    }

    /// Exchanges an Embedded Signup code and stores the long-lived token it yields, as a new
    /// record or into `replacing`, audited `exchanged` (or `replaced`).
    ///
    /// Everything that can be checked is checked before the call: a code is single-use, so the
    /// exchange must not happen when the result could not be stored.
    public func exchange(code: String, _ new: NewToken, replacing id: String? = nil) async throws -> TokenRecord {
        if let problem = TokenValue.problem(code, noun: "code") { throw TokenKeeperError(.invalidInput, problem) }
        var new = new
        let project: String
        if let id {
            let existing = try inventory.token(id: id)
            try Inventory.checkSameProject(existing, new.project)
            project = existing.projectID
            new.businessManager = new.businessManager ?? existing.businessManager
        } else {
            guard !new.project.isEmpty else { throw TokenKeeperError(.usage, "--project must not be empty") }
            project = new.project
        }
        if let manager = new.businessManager, !SinchConfiguration.businessManagers.contains(manager) {
            throw TokenKeeperError(
                .usage,
                "unknown business manager \(manager) (expected one of "
                    + "\(SinchConfiguration.businessManagers.joined(separator: ", ")))"
            )
        }
        try inventory.checkSchedule(new)
        let token: String
        do {
            token = try await client.exchangeCode(code, project: project, businessManager: new.businessManager)
        } catch {
            throw TokenKeeperError(error, while: "exchanging the code")
        }
        do {
            if let id {
                return try inventory.replace(id: id, token: token, new, source: "code")
            }
            return try inventory.add(token: token, new, event: .exchanged, source: "code")
        } catch let error as TokenKeeperError {
            // Rare (the checks above passed), and the operator must know what it cost.
            throw TokenKeeperError(
                error.code,
                "\(error.message); the code was spent and the token Sinch returned is not stored: "
                    + "redo Embedded Signup for a new code"
            )
        }
    }

    /// The WABAs and numbers the stored token `id` reaches (`wabaDetails`).
    public func wabas(id: String) async throws -> [WABA] {
        let record = try inventory.token(id: id)
        let token = try inventory.unsealed(record)
        do {
            return try await client.wabaDetails(token: token, project: record.projectID)
        } catch {
            throw TokenKeeperError(error, while: "asking Sinch for the WABAs of \(id)")
        }
    }

    /// Turns on template analytics for `project`; needs no database.
    public static func enableTemplateAnalytics(project: String, client: SinchClient) async throws {
        guard !project.isEmpty else { throw TokenKeeperError(.usage, "--project must not be empty") }
        do {
            try await client.enableTemplateAnalytics(project: project)
        } catch {
            throw TokenKeeperError(error, while: "enabling template analytics for project \(project)")
        }
    }
}
