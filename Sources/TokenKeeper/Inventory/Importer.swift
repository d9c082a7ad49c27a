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
    /// inserted with its audit rows while the next batch is prepared. Memory holds two batches,
    /// not the file.
    public func importTokens(from descriptor: Int32, batchSize: Int = 16_384) throws -> ImportSummary {
        let sealer = try requireSealer()
        let now = clock.now
        var reader = LineReader(descriptor: descriptor)
        return try store.write { db in
            // One transaction holds every row: give SQLite room so pages are not spilled to the
            // WAL and read back while the indexes grow (bounded, whatever the file's size).
            let cacheSize = try Int.fetchOne(db, sql: "PRAGMA cache_size") ?? -2_000
            try db.execute(sql: "PRAGMA cache_size = -262144")
            defer { try? db.execute(sql: "PRAGMA cache_size = \(cacheSize)") }
            var tail = try AuditLog.tail(db)
            var imported = 0
            var generator = FastRandom()
            // A pipeline: while this thread inserts batch n, other cores parse and seal batch n+1.
            var preparing: PendingBatch?
            defer { _ = preparing?.wait() }
            while true {
                let batch = try readBatch(&reader, size: batchSize)
                let next = batch.isEmpty ? nil : PendingBatch(batch) { prepare($0, sealer: sealer, now: now) }
                if let current = preparing?.wait() {
                    preparing = next
                    // The first bad line (in file order) fails the import; the rest go in id order,
                    // so consecutive inserts land on neighbouring index pages.
                    var tokens = try current.map { try $0.get() }
                    tokens.sort { $0.id < $1.id }
                    for var token in tokens {
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
                            detailJSON: token.auditDetail,
                            at: now
                        )
                        imported += 1
                    }
                } else {
                    preparing = next
                }
                if preparing == nil { break }
            }
            return ImportSummary(imported: imported)
        }
    }

    /// The next batch of non-blank lines with their numbers; empty at the end of the input.
    private func readBatch(_ reader: inout LineReader, size: Int) throws -> [(number: Int, bytes: ArraySlice<UInt8>)] {
        var batch: [(number: Int, bytes: ArraySlice<UInt8>)] = []
        batch.reserveCapacity(size)
        while batch.count < size, let line = try reader.next() {
            // Blank lines are allowed (a trailing newline, a spacer); they import nothing.
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            batch.append((reader.lineNumber, line))
        }
        return batch
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
        /// The `added` audit row's detail, encoded off the writer's thread.
        var auditDetail: String
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
                var generator = FastRandom()
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
        using generator: inout FastRandom
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
            let fingerprint = sealer.fingerprint(line.token)
            let detail = AuditDetail(fingerprint: fingerprint, project: line.project, source: "import")
            return .success(
                PreparedToken(
                    id: id,
                    value: line.token,
                    sealed: try sealer.seal(line.token, id: id),
                    fingerprint: fingerprint,
                    project: line.project,
                    label: line.label,
                    waba: line.waba,
                    issued: times.issued,
                    expires: times.expires,
                    refresh: times.refresh,
                    auditDetail: try audit.encode(detail)
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

/// A batch being prepared on another thread; `wait()` returns its results.
private final class PendingBatch: @unchecked Sendable {
    typealias Lines = [(number: Int, bytes: ArraySlice<UInt8>)]
    typealias Results = [Result<Inventory.PreparedToken, TokenKeeperError>]

    private let done = DispatchSemaphore(value: 0)
    // Written once by the worker before `done` is signalled, read after `wait()`.
    private var results: Results = []

    init(_ lines: Lines, _ work: @escaping @Sendable (Lines) -> Results) {
        DispatchQueue.global().async { [self] in
            results = work(lines)
            done.signal()
        }
    }

    func wait() -> Results {
        done.wait()
        done.signal()  // later waits return at once
        return results
    }
}

/// Hands a value to `concurrentPerform`, whose workers write disjoint slots of one buffer.
struct UncheckedSendable<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}
