import Foundation
import TokenKeeper

/// Where the sandbox stands at one moment, for the live view.
struct DemoStatus: Sendable, Equatable {
    var now: UnixTime
    var counts: [TokenState: Int] = [:]
    /// The earliest `refresh_at` of a live token.
    var nextRefresh: UnixTime?
    /// The project of the token due next that no refresh has claimed yet: the one whose next
    /// call a throttled period will hit soonest.
    var nextProject: String?
    var refreshes = 0
    var failedAttempts = 0
}

/// Watches the demo's database as an operator would, through the read-only inventory (`list`
/// and `audit` data): counts the tokens per state and turns each new audit event that matters
/// (a failure, a token needing a person, a recovery) into a line of narration.
struct DemoMonitor {
    private let inventory: Inventory
    private let projectOfToken: [String: String]
    private let decoder = JSONDecoder()
    private var lastSeq: Int64 = 0
    private var lastAt: UnixTime?
    /// Failed attempts since each token's last success.
    private var failing: [String: Int] = [:]
    /// Projects Sinch throttled that still have a token failing.
    private var throttledProjects: Set<String> = []

    private(set) var refreshes = 0
    private(set) var failedAttempts = 0
    private(set) var needsReauth = 0
    /// Tokens refreshed after one or more failed attempts.
    private(set) var recovered = 0

    init(inventory: Inventory, projectOfToken: [String: String]) {
        self.inventory = inventory
        self.projectOfToken = projectOfToken
    }

    /// The narration of the audit events committed since the last call.
    mutating func newEvents() throws -> [String] {
        var events: [AuditRecord] = []
        // `since` uses the `at` index; rows of that same second already seen are skipped by seq.
        try inventory.forEachAuditEvent(matching: AuditLog.Query(since: lastAt)) { record in
            if record.seq > lastSeq { events.append(record) }
        }
        var lines: [String] = []
        for event in events {
            lastSeq = event.seq
            lastAt = event.at
            lines += narrate(event)
        }
        return lines
    }

    /// The tokens per state and the next refresh, now.
    func status() throws -> DemoStatus {
        let now = inventory.clock.now
        var status = DemoStatus(now: now)
        var upcoming: UnixTime?
        try inventory.forEachToken(matching: Inventory.Query()) { record in
            status.counts[record.state, default: 0] += 1
            guard TokenState.live.contains(record.state) else { return }
            status.nextRefresh = min(status.nextRefresh ?? record.refreshAt, record.refreshAt)
            // A token due now may be in flight already: its call is past throttling.
            if record.refreshAt > now, upcoming.map({ record.refreshAt < $0 }) ?? true {
                upcoming = record.refreshAt
                status.nextProject = record.projectID
            }
        }
        status.refreshes = refreshes
        status.failedAttempts = failedAttempts
        return status
    }

    private mutating func narrate(_ event: AuditRecord) -> [String] {
        guard let id = event.tokenID, let kind = AuditEvent(rawValue: event.event) else { return [] }
        let detail = try? decoder.decode(AuditDetail.self, from: Data(event.detail.utf8))
        let project = projectOfToken[id] ?? detail?.project ?? "?"
        // How a line names the token: its id and project (never its value).
        let named = "\(id) (\(project))"
        switch kind {
        case .refreshed:
            refreshes += 1
            var lines: [String] = []
            if let failures = failing.removeValue(forKey: id) {
                recovered += 1
                let attempts = failures == 1 ? "1 failed attempt" : "\(failures) failed attempts"
                lines.append("\(named) recovered: active again, refreshed after \(attempts)")
            }
            let stillFailing = failing.keys.contains { projectOfToken[$0] == project }
            if !stillFailing, throttledProjects.remove(project) != nil {
                lines.append("project \(project) recovered: Sinch accepts its refreshes again, none is failing")
            }
            return lines
        case .refreshFailed:
            failedAttempts += 1
            failing[id, default: 0] += 1
            let status = detail?.httpStatus.map { "HTTP \($0) " } ?? ""
            let code = detail?.errorCode ?? "unknown"
            if detail?.errorClass == "throttled" {
                throttledProjects.insert(project)
                let pause = detail?.note.map { "; \($0)" } ?? ""
                return ["\(named) retrying: Sinch throttled the refresh (\(status)\(code))\(pause)"]
            }
            let errorClass = detail?.errorClass ?? "failed"
            return ["\(named) retrying: \(errorClass) error (\(status)\(code)), backing off"]
        case .needsReauth:
            failedAttempts += 1
            needsReauth += 1
            failing[id] = nil
            let code = detail?.errorCode ?? "refused"
            return [
                "\(named) needs_reauth: Meta refused the token (\(code)); no more attempts, a person "
                    + "redoes Embedded Signup, then `tokenkeeper add --replace \(id)`"
            ]
        case .expired:
            failing[id] = nil
            return ["\(named) expired: it died before a refresh went through"]
        case .hookFailed:
            return ["\(named): a hook failed (\(detail?.note ?? "no detail"))"]
        case .notExtended:
            return ["\(named) not extended: Sinch returned the same token; its expiry stays, tried again later"]
        case .added, .exchanged, .revealed, .removed, .replaced, .keyRotated, .keyRetired, .triggersRestored,
            .auditResealed, .auditSealed:
            return []
        }
    }
}
