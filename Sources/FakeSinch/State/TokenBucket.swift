/// The OAuth2 endpoint's rate limit: a bucket of `capacity` that refills `refillPerSecond`.
struct TokenBucket {
    let capacity: Double
    let refillPerSecond: Double
    private var available: Double
    private var updatedAt: Double?

    init(capacity: Double, refillPerSecond: Double) {
        self.capacity = capacity
        self.refillPerSecond = refillPerSecond
        available = capacity
    }

    /// Takes one slot at `now` (Unix seconds); false when the bucket is empty. A clock that moves
    /// backwards refills nothing.
    mutating func take(now: Double) -> Bool {
        if let updatedAt {
            if now > updatedAt {
                available = min(capacity, available + (now - updatedAt) * refillPerSecond)
                self.updatedAt = now
            }
        } else {
            updatedAt = now
        }
        guard available >= 1 else { return false }
        available -= 1
        return true
    }
}
