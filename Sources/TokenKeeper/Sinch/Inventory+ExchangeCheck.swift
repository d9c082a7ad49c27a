import SinchProvisioning

extension Inventory {
    /// What `add --code-stdin` checks before the code is spent, and `add --recover` before the
    /// token a recovery file keeps is stored (the same checks, so a file cannot put in what `add`
    /// refuses): the details as they will be stored, or why they cannot be.
    ///
    /// With `replacing`, the record must exist and `new.project` (when given) be its project; the
    /// result names the record's project, and its business manager unless `new` gives one.
    package func checkExchanged(_ new: NewToken, replacing id: String?) throws -> NewToken {
        var new = new
        if let id {
            let existing = try token(id: id)
            try Self.checkSameProject(existing, new.project)
            new.project = existing.projectID
            new.businessManager = new.businessManager ?? existing.businessManager
        } else {
            guard !new.project.isEmpty else { throw TokenKeeperError(.usage, "--project must not be empty") }
        }
        if let manager = new.businessManager, !SinchConfiguration.businessManagers.contains(manager) {
            throw TokenKeeperError(
                .usage,
                "unknown business manager \(TerminalText.escape(manager)) (expected one of "
                    + "\(SinchConfiguration.businessManagers.joined(separator: ", ")))"
            )
        }
        try checkSchedule(new)
        return new
    }
}
