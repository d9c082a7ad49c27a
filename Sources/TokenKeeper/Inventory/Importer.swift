import Foundation

/// What `tokenkeeper import` did.
package struct ImportSummary: Sendable, Codable, Equatable {
    package var imported: Int
    /// Lines whose token was stored already, passed over by `--skip-existing` (nil without it).
    package var skipped: Int?

    package init(imported: Int, skipped: Int? = nil) {
        self.imported = imported
        self.skipped = skipped
    }
}

extension Inventory {
    /// Imports JSON Lines from `descriptor` in one transaction: one bad line imports nothing.
    ///
    /// A token already stored (before the import, or by an earlier line) is a bad line too, unless
    /// `skipExisting`: then it is passed over and counted. Lines are read in batches; each batch is
    /// parsed, checked and sealed on every core, then inserted with its audit rows while the next
    /// batch is prepared. Memory holds two batches, not the file.
    package func importTokens(
        from descriptor: Int32,
        skipExisting: Bool = false,
        batchSize: Int = 16_384
    ) throws -> ImportSummary {
        let sealer = try requireSealer()
        let now = clock.now
        var reader = LineReader(descriptor: descriptor)
        return try store.write(bulk: true) { store in
            var tail = try store.auditTail()
            let before = tail.seq
            // The fingerprints stored, and those this import adds: only a token whose fingerprint
            // is among them is looked up in the table (a million lookups cost more than the set).
            var fingerprints = try FingerprintSet(store)
            var imported = 0
            var skipped = 0
            var generator = FastRandom()
            // A pipeline: while this thread inserts batch n, other cores parse and seal batch n+1.
            var preparing: PendingBatch?
            defer { _ = preparing?.wait() }
            while true {
                let batch = try readBatch(&reader, size: batchSize)
                let next = batch.isEmpty ? nil : PendingBatch(batch) { prepareBatch($0, sealer: sealer, now: now) }
                if let current = preparing?.wait() {
                    preparing = next
                    // The first bad line (in file order) fails the import; the rest go in id order,
                    // so consecutive inserts land on neighbouring index pages.
                    var tokens = try current.map { try $0.get() }
                    tokens.sort { $0.id < $1.id }
                    // Tokens no stored token or earlier line can equal go in one multi-row insert
                    // (one COPY on PostgreSQL); the others, and an id drawn twice in the batch (the
                    // insert names taken rows by id, which two rows would share), one at a time
                    // after them, each looked up first.
                    var fresh: [PreparedToken] = []
                    var checked: [PreparedToken] = []
                    for token in tokens {
                        if fingerprints.insert(token.fingerprint) && fresh.last?.id != token.id {
                            fresh.append(token)
                        } else {
                            checked.append(token)
                        }
                    }
                    imported += try insertFresh(fresh, store, after: &tail, sealer: sealer, at: now, using: &generator)
                    for token in checked {
                        do {
                            try insert(token, store, after: &tail, sealer: sealer, at: now, using: &generator)
                            imported += 1
                        } catch let error as TokenKeeperError where error.code == .alreadyStored {
                            guard skipExisting else {
                                throw try alreadyImported(token, store, importedAfter: before, batch: tokens)
                            }
                            skipped += 1
                        }
                    }
                } else {
                    preparing = next
                }
                if preparing == nil { break }
            }
            return ImportSummary(imported: imported, skipped: skipExisting ? skipped : nil)
        }
    }

    /// Inserts `tokens` (none equal to a stored token) with one ``StoreWriting/insertTokens(_:)``
    /// and appends their `added` rows in order; a token whose random id turned out taken draws
    /// another through ``insert(_:_:after:sealer:at:event:mayBeStored:using:)``. Their count.
    private func insertFresh(
        _ tokens: [PreparedToken],
        _ store: any StoreWriting,
        after tail: inout AuditLog.Tail,
        sealer: TokenSealer,
        at now: UnixTime,
        using generator: inout some RandomNumberGenerator
    ) throws -> Int {
        let taken = Set(try store.insertTokens(tokens.map(\.record)))
        for token in tokens {
            if taken.contains(token.id) {
                try insert(token, store, after: &tail, sealer: sealer, at: now, mayBeStored: false, using: &generator)
            } else {
                try audit.append(
                    store,
                    after: &tail,
                    event: .added,
                    tokenID: token.id,
                    detailJSON: token.auditDetail,
                    at: now
                )
            }
        }
        return tokens.count
    }

    /// The error for `token`'s line, whose value is stored already: in a record from before the
    /// import, or from another line of this one (its `added` row is after `seq`). A batch goes in
    /// id order, so the copy found second may be the earlier line: the message names the later.
    private func alreadyImported(
        _ token: PreparedToken,
        _ store: any StoreReading,
        importedAfter seq: Int64,
        batch: [PreparedToken]
    ) throws -> TokenKeeperError {
        func error(_ message: String) -> TokenKeeperError {
            TokenKeeperError(
                .alreadyStored,
                "\(message); nothing was imported (--skip-existing imports the other lines)"
            )
        }
        let stored = try storedID(of: token.value, fingerprint: token.fingerprint, store, sealer: try requireSealer())
        guard let stored, try store.hasAuditRecord(tokenID: stored, after: seq) else {
            return error("line \(token.line): this token is already stored as \(stored ?? "another record")")
        }
        if let twin = batch.first(where: { $0.line != token.line && $0.value == token.value }) {
            let (first, second) = (min(twin.line, token.line), max(twin.line, token.line))
            return error("line \(second): the same token as line \(first)")
        }
        return error("line \(token.line): the same token as an earlier line")
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

    /// Parses and seals a batch on all cores; results keep the batch's order.
    private func prepareBatch(
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
        func failure(_ message: String) -> TokenKeeperError {
            TokenKeeperError(.invalidInput, "line \(number): \(message); nothing was imported")
        }
        let line: ImportLine
        do {
            line = try ImportLine.decode(bytes, decoder: decoder)
        } catch {
            return .failure(failure(ImportLine.describe(error)))
        }
        guard !line.project.isEmpty else { return .failure(failure("\"project\" is empty")) }
        var new = NewToken(project: line.project, label: line.label, waba: line.waba)
        if let text = line.expiresAt {
            guard let time = RFC3339.parse(text) else {
                return .failure(failure("\"expires_at\" is not an RFC 3339 time such as 2026-11-25T10:00:00Z"))
            }
            new.expiresAt = time
        }
        return prepare(token: line.token, new, source: "import", sealer: sealer, now: now, using: &generator)
            .map { prepared in
                var prepared = prepared
                prepared.line = number
                return prepared
            }
            .mapError { failure($0.message) }
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

/// A set of token fingerprints (16 hex digits, held as 64-bit numbers): the ones in the table
/// when an import starts, and each one it adds.
struct FingerprintSet {
    private var values: Set<UInt64> = []
    /// Fingerprints that are not 16 hex digits (none that tokenkeeper wrote), kept as text.
    private var others: Set<String> = []

    init(_ store: any StoreReading) throws {
        try store.forEachFingerprint { _ = insert($0) }
    }

    /// Adds `fingerprint`; true when it was not in the set yet.
    mutating func insert(_ fingerprint: String) -> Bool {
        if fingerprint.utf8.count == 16, let value = UInt64(fingerprint, radix: 16) {
            return values.insert(value).inserted
        }
        return others.insert(fingerprint).inserted
    }
}
