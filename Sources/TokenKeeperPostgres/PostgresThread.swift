import Foundation
import PostgresNIO
import Synchronization
import TokenKeeper

/// The thread every PostgreSQL task of this process runs on, and the bridge from the store's
/// synchronous seam to postgres-nio's `async` API.
///
/// The domain's store protocols are synchronous (SQLite answers in microseconds), so a query here
/// blocks its caller until the answer is in. The caller may be one of the two threads of Swift's
/// cooperative pool; had the query's task run on that pool too, two blocked callers would leave
/// none to run the client's connection pool or resume a query: a deadlock on a 2-core machine.
/// Tasks that prefer this executor run on its own thread instead, which never blocks (it only
/// runs jobs), so a caller waiting here waits only for the network.
final class PostgresThread: TaskExecutor, @unchecked Sendable {
    static let shared = PostgresThread()

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var thread: Thread?

    private init() {
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "tokenkeeper.postgres"
        self.thread = thread
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        Self.isCurrent = true
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
        }
    }

    private static let threadFlag = ThreadFlag()
    private static var isCurrent: Bool {
        get { threadFlag.value }
        set { threadFlag.value = newValue }
    }

    /// Runs `body` on this thread and blocks the caller until it finishes; gives up after
    /// `limit` (the task is cancelled and ``PostgresTimeout`` thrown).
    func run<T: Sendable>(within limit: Duration, _ body: @escaping @Sendable () async throws -> T) throws -> T {
        try start(body).wait(within: limit)
    }

    /// Starts `body` on this thread and returns at once: the caller goes on with its own work
    /// and collects the outcome with ``Running/wait(within:)``.
    func start<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> Running<T> {
        precondition(!Self.isCurrent, "a blocking PostgreSQL call on the PostgreSQL thread would deadlock")
        let running = Running<T>()
        running.task = Task(executorPreference: self) { [running] in
            let result: Result<T, any Error>
            do { result = .success(try await body()) } catch { result = .failure(error) }
            running.finish(result)
        }
        return running
    }

    /// A body started by ``start(_:)``.
    final class Running<T: Sendable>: @unchecked Sendable {
        private let outcome = Mutex<Result<T, any Error>?>(nil)
        private let done = DispatchSemaphore(value: 0)
        // Set once by `start` before the caller can wait.
        fileprivate var task: Task<Void, Never>?

        fileprivate func finish(_ result: Result<T, any Error>) {
            outcome.withLock { $0 = result }
            done.signal()
        }

        /// Blocks until the body finished, at most `limit` (then it is cancelled and
        /// ``PostgresTimeout`` thrown); its value or error. With `connection`, gives up as soon as
        /// that connection is closed (``PostgresConnectionLost``): postgres-nio leaves a query on a
        /// connection the server dropped (`pg_ctl restart -m immediate`) unanswered, and without
        /// this look every round trip on it would wait out `limit`.
        func wait(within limit: Duration, on connection: PostgresConnection? = nil) throws -> T {
            let deadline = DispatchTime.now() + limit.timeInterval
            while done.wait(timeout: min(deadline, .now() + Self.look.timeInterval)) == .timedOut {
                if let connection, connection.isClosed {
                    task?.cancel()
                    throw PostgresConnectionLost()
                }
                guard DispatchTime.now() < deadline else {
                    task?.cancel()
                    throw PostgresTimeout(limit: limit)
                }
            }
            done.signal()  // a later wait returns at once
            return try outcome.withLock { $0! }.get()
        }

        /// How often a wait looks whether its connection was closed.
        static var look: Duration { .milliseconds(100) }
    }
}

/// The connection a call was waiting on was closed (the server went away or restarted).
struct PostgresConnectionLost: Error, CustomStringConvertible {
    var description: String { "the connection to the server was lost" }
}

/// A call to PostgreSQL that took longer than its limit.
struct PostgresTimeout: Error, CustomStringConvertible {
    var limit: Duration
    var description: String { "no answer within \(limit)" }
}

/// A per-thread flag (the executor's own thread), without Foundation's thread dictionary.
struct ThreadFlag: Sendable {
    private let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    var value: Bool {
        get { pthread_getspecific(key) != nil }
        nonmutating set { pthread_setspecific(key, newValue ? UnsafeRawPointer(bitPattern: 1) : nil) }
    }
}
