import Foundation
import GRDB

/// What `tokenkeeper import` did.
public struct ImportSummary: Sendable, Codable, Equatable {
    public var imported: Int

    public init(imported: Int) { self.imported = imported }
}

extension Inventory {
    /// Imports JSON Lines from `descriptor` in one transaction: one bad line imports nothing.
    ///
    /// Lines are read in batches; each batch is parsed, checked and sealed on every core, then
    /// inserted in order with its audit rows. Memory holds one batch, not the file.
    public func importTokens(from descriptor: Int32, batchSize: Int = 4_096) throws -> ImportSummary {
        let sealer = try requireSealer()
        let now = clock.now
        var reader = LineReader(descriptor: descriptor)
        return try store.write { db in
            var tail = try AuditLog.tail(db)
            var imported = 0
            var batch: [(number: Int, bytes: ArraySlice<UInt8>)] = []
            batch.reserveCapacity(batchSize)
            var generator = SystemRandomNumberGenerator()
            while true {
                batch.removeAll(keepingCapacity: true)
                while batch.count < batchSize, let line = try reader.next() {
                    // Blank lines are allowed (a trailing newline, a spacer); they import nothing.
                    if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                    batch.append((reader.lineNumber, line))
                }
                if batch.isEmpty { break }
                for prepared in prepare(batch, sealer: sealer, now: now) {
                    var token = try prepared.get()
                    while try !insert(token, db) {
                        // The drawn id is taken: draw another and seal again (the id is the AAD).
                        token.id = TokenID.generate(using: &generator)
                        token.sealed = try sealer.seal(token.value, id: token.id)
                    }
                    try audit.append(
                        db,
                        after: &tail,
                        event: .added,
                        tokenID: token.id,
                        detail: AuditDetail(fingerprint: token.fingerprint, project: token.project, source: "import"),
                        at: now
                    )
                    imported += 1
                }
            }
            return ImportSummary(imported: imported)
        }
    }

    /// A parsed, checked and sealed line, ready to insert.
    struct PreparedToken: Sendable {
        var id: String
        var value: String
        var sealed: Data
        var fingerprint: String
        var project: String
        var label: String?
        var waba: String?
        var issued: UnixTime
        var expires: UnixTime
        var refresh: UnixTime
    }

    /// Parses and seals a batch on all cores; results keep the batch's order.
    private func prepare(
        _ batch: [(number: Int, bytes: ArraySlice<UInt8>)],
        sealer: TokenSealer,
        now: UnixTime
    ) -> [Result<PreparedToken, TokenKeeperError>] {
        let count = batch.count
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8, count / 64))
        let placeholder = Result<PreparedToken, TokenKeeperError>.failure(TokenKeeperError(.invalidInput, ""))
        var results = [Result<PreparedToken, TokenKeeperError>](repeating: placeholder, count: count)
        results.withUnsafeMutableBufferPointer { output in
            let output = UncheckedSendable(output)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                let decoder = JSONDecoder()
                var generator = SystemRandomNumberGenerator()
                let range = (count * worker / workers)..<(count * (worker + 1) / workers)
                for index in range {
                    let line = batch[index]
                    output.value[index] = prepareLine(
                        line.bytes,
                        number: line.number,
                        decoder: decoder,
                        sealer: sealer,
                        now: now,
                        using: &generator
                    )
                }
            }
        }
        return results
    }

    private func prepareLine(
        _ bytes: ArraySlice<UInt8>,
        number: Int,
        decoder: JSONDecoder,
        sealer: TokenSealer,
        now: UnixTime,
        using generator: inout SystemRandomNumberGenerator
    ) -> Result<PreparedToken, TokenKeeperError> {
        func failure(_ message: String) -> Result<PreparedToken, TokenKeeperError> {
            .failure(TokenKeeperError(.invalidInput, "line \(number): \(message); nothing was imported"))
        }
        let line: ImportLine
        do {
            line = try decoder.decode(ImportLine.self, from: Data(bytes))
        } catch {
            return failure(ImportLine.describe(error))
        }
        if let problem = TokenValue.problem(line.token) { return failure(problem) }
        guard !line.project.isEmpty else { return failure("\"project\" is empty") }
        var new = NewToken(project: line.project, label: line.label, waba: line.waba)
        if let text = line.expiresAt {
            guard let time = RFC3339.parse(text) else {
                return failure("\"expires_at\" is not an RFC 3339 time such as 2026-11-25T10:00:00Z")
            }
            new.expiresAt = time
        }
        let times: (issued: UnixTime, expires: UnixTime, refresh: UnixTime)
        switch schedule(new, now: now, using: &generator) {
        case .success(let value): times = value
        case .failure(let error): return failure(error.message)
        }
        let id = TokenID.generate(using: &generator)
        do {
            return .success(
                PreparedToken(
                    id: id,
                    value: line.token,
                    sealed: try sealer.seal(line.token, id: id),
                    fingerprint: sealer.fingerprint(line.token),
                    project: line.project,
                    label: line.label,
                    waba: line.waba,
                    issued: times.issued,
                    expires: times.expires,
                    refresh: times.refresh
                )
            )
        } catch {
            return failure("the token could not be sealed")
        }
    }

    /// Inserts one prepared token; false when its id is already taken.
    private func insert(_ token: PreparedToken, _ db: Database) throws -> Bool {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO tokens (id, project_id, label, waba_id, sealed_token, fingerprint,
                    issued_at, expires_at, refresh_at, state, failures, version)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', 0, 1)
                """
        )
        do {
            try statement.execute(arguments: [
                token.id, token.project, token.label, token.waba, token.sealed, token.fingerprint,
                token.issued, token.expires, token.refresh,
            ])
            return true
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            return false
        }
    }
}

/// Hands a value to `concurrentPerform`, whose workers write disjoint slots of one buffer.
struct UncheckedSendable<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}
