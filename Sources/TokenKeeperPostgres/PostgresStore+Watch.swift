import PostgresNIO
import TokenKeeper

extension PostgresStore {
    /// LISTENs on the tokens channel on a connection of its own, calling `onChange` for every
    /// notification and once each time it (re)connects (what changed while it was not listening
    /// is not lost). A lost connection is retried with growing waits, up to 30 s.
    package func watchChanges(_ onChange: @escaping @Sendable () -> Void) -> (any StoreWatch)? {
        let client = client
        let task = Task(executorPreference: PostgresThread.shared) {
            var failures = 0
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: PostgresSchema.channel) { notifications in
                            onChange()
                            for try await _ in notifications { onChange() }
                        }
                    }
                    failures = 0
                } catch {
                    failures += 1
                }
                try? await Task.sleep(for: .seconds(min(1 << min(failures, 5), 30)))
            }
        }
        return TaskWatch(task: task)
    }
}

/// A watch that is a task to cancel.
struct TaskWatch: StoreWatch {
    let task: Task<Void, Never>
    func cancel() { task.cancel() }
}
