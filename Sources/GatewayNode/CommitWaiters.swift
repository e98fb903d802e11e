/// Who waits for which transaction's block, as a pure state machine (in the manner of postgres-nio's): no clock, no
/// I/O, no continuations of its own. The chain service feeds it events — a wait, a commit, a skip, the time — and
/// resumes the waiters each event hands back. `Waiter` is whatever the owner resumes (a continuation; an id in tests).
struct CommitWaiters<Waiter> {
    struct Entry {
        let waiter: Waiter
        let sinceMs: Int64
        let deadlineMs: Int64
    }

    /// Waiters by transaction hash.
    private(set) var entries: [[UInt8]: [Entry]] = [:]
    /// How many wait, over all hashes.
    private(set) var count = 0
    /// Waited-for transactions this process did not offer itself: to be looked up once in the chain tables.
    private(set) var unprobed: Set<[UInt8]> = []
    /// Recently committed transactions, so a late waiter need not ask the database. At most `recentMax`.
    private var recent: [[UInt8]: TransactionLocation] = [:]
    private var recentOrder: [[UInt8]] = []
    private var recentStart = 0
    let recentMax: Int
    let timeoutMs: Int64

    init(recentMax: Int, timeoutMs: Int64) {
        self.recentMax = recentMax
        self.timeoutMs = timeoutMs
    }

    /// Where a recently committed transaction is, if this process saw its block.
    func location(of hash: [UInt8]) -> TransactionLocation? { recent[hash] }

    /// Registers `waiter` for `hash` at `nowMs`; `known` when this process offered the transaction (otherwise it is
    /// queued to be looked up in storage once).
    mutating func wait(_ waiter: Waiter, for hash: [UInt8], known: Bool, nowMs: Int64) {
        entries[hash, default: []].append(Entry(waiter: waiter, sinceMs: nowMs, deadlineMs: nowMs + timeoutMs))
        count += 1
        if !known { unprobed.insert(hash) }
    }

    /// A block committed `hash` at `location`: remembered, and its waiters returned to be resumed with it.
    mutating func committed(_ hash: [UInt8], at location: TransactionLocation) -> [Waiter] {
        if recent[hash] == nil { recentOrder.append(hash) }
        recent[hash] = location
        if recentOrder.count - recentStart > recentMax {
            recent[recentOrder[recentStart]] = nil
            recentStart += 1
            // Compact the order list once its dead prefix is as long as what it keeps.
            if recentStart >= recentMax {
                recentOrder.removeFirst(recentStart)
                recentStart = 0
            }
        }
        return take(hash)
    }

    /// `hash` will not commit (skipped or rejected by the ledger): its waiters, to be failed. Unless it committed
    /// earlier (a duplicate in a later block is skipped while the first stands).
    mutating func failed(_ hash: [UInt8]) -> [Waiter] {
        guard recent[hash] == nil else { return [] }
        return take(hash)
    }

    /// The waiters whose deadline has passed at `nowMs`, removed.
    mutating func expired(nowMs: Int64) -> [Waiter] {
        var out: [Waiter] = []
        for (hash, list) in entries where list.contains(where: { $0.deadlineMs <= nowMs }) {
            let alive = list.filter { $0.deadlineMs > nowMs }
            out += list.filter { $0.deadlineMs <= nowMs }.map(\.waiter)
            entries[hash] = alive.isEmpty ? nil : alive
        }
        count -= out.count
        return out
    }

    /// Up to `limit` hashes to look up in storage, each once.
    mutating func takeUnprobed(limit: Int) -> [[UInt8]] {
        let batch = Array(unprobed.prefix(limit))
        for hash in batch { unprobed.remove(hash) }
        return batch
    }

    /// Every waiter, removed (shutdown).
    mutating func removeAll() -> [Waiter] {
        let all = entries.values.flatMap { $0.map(\.waiter) }
        entries = [:]
        count = 0
        return all
    }

    /// When the longest wait began (nil when nobody waits).
    var oldestSinceMs: Int64? { entries.values.lazy.flatMap { $0 }.map(\.sinceMs).min() }

    private mutating func take(_ hash: [UInt8]) -> [Waiter] {
        guard let list = entries.removeValue(forKey: hash) else { return [] }
        count -= list.count
        return list.map(\.waiter)
    }
}
