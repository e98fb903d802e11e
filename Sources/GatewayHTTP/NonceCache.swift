/// Remembers request nonces for the freshness window, so that a captured request cannot be replayed.
/// Bounded: beyond `entriesMax` live nonces new requests are refused with 503 rather than growing without limit.
actor NonceCache {
    let windowSeconds: Int64
    let entriesMax: Int
    var seen: [String: Int64] = [:]
    var lastSweep: Int64 = 0

    init(windowSeconds: Int64, entriesMax: Int = 1_000_000) {
        self.windowSeconds = windowSeconds
        self.entriesMax = entriesMax
    }

    enum Outcome { case fresh, replayed, full }

    var lastDurablePurge: Int64 = 0

    /// True about once a minute: time to drop expired nonces from the durable store too.
    func durablePurgeDue(now: Int64) -> Bool {
        guard now - lastDurablePurge >= 60 else { return false }
        lastDurablePurge = now
        return true
    }

    /// Records `department:nonce` as used at `now`; tells whether it had been used inside the window.
    func use(_ key: String, now: Int64) -> Outcome {
        if now - lastSweep >= 10 || seen.count >= entriesMax {
            seen = seen.filter { now - $0.value <= 2 * windowSeconds }
            lastSweep = now
        }
        if seen[key] != nil { return .replayed }
        guard seen.count < entriesMax else { return .full }
        seen[key] = now
        return .fresh
    }
}
