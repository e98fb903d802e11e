import GatewayChain
import GatewayPolicy
import GatewayPrivacy
import GatewaySchema
import GatewayWire

/// Differentially private release of aggregates (issue 14, on the holder's own node): a permit with `@dp_epsilon`
/// makes every released sum and count noisy (discrete Laplace, half of ε each), and each statistic spends its ε from
/// the requester's budget for the category and calendar month, recorded on chain in the access event. The budget is
/// checked against the chain and spent under one lock per budget, so concurrent requests cannot overspend it.
package struct PrivateRelease: Sendable {
    let noise: NoiseSource
    let budgets = KeyedLock<PrivacySpending.Key>()

    /// The sensitivity of a sum of `field`: how much one citizen's record can change it, from the schema's bounds.
    static func sensitivity(of field: String, in category: RecordCategory) throws -> Int64 {
        guard let property = category.schema.properties[field], let minimum = property.minimum, let maximum = property.maximum,
            minimum.isFinite, maximum.isFinite
        else {
            throw ExchangeError(
                .invalidRequest, "\(field) has no minimum and maximum in the \(category.name) schema: a private sum needs its bounds"
            )
        }
        let bound = max(abs(minimum), abs(maximum)).rounded(.up)
        guard bound <= Double(1 << 53) else { throw ExchangeError(.invalidRequest, "\(field)'s bounds are too wide for a private sum") }
        return max(1, Int64(bound))
    }

    /// A group's released figures: its sum and count, each with its own share of ε; the exact cohort is not released.
    func release(_ group: API.AggregateGroup, sum: DiscreteLaplace, count: DiscreteLaplace) -> API.AggregateGroup {
        guard let exactSum = group.sum, let exactCount = group.count else { return group }
        let noisySum = Self.saturating(exactSum, noise.draw(sum))
        let noisyCount = Self.saturating(Int64(exactCount), noise.draw(count))
        return API.AggregateGroup(
            key: group.key, cohort: nil, count: Int(clamping: noisyCount), sum: noisySum,
            mean: noisyCount > 0 ? Double(noisySum) / Double(noisyCount) : nil, suppressed: false
        )
    }

    static func saturating(_ value: Int64, _ noise: Int64) -> Int64 {
        let (total, overflow) = value.addingReportingOverflow(noise)
        return overflow ? (noise < 0 ? Int64.min : Int64.max) : total
    }

    /// "0.5" for 500,000 millionths.
    static func decimal(_ micros: Int64) -> String {
        let whole = micros / PrivacyBudget.microsPerEpsilon
        var fraction = String(micros % PrivacyBudget.microsPerEpsilon)
        guard fraction != "0" else { return "\(whole)" }
        fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(whole).\(fraction)"
    }
}

/// One holder at a time per key: a caller arriving while the key is held waits its turn (first come, first served).
package actor KeyedLock<Key: Hashable & Sendable> {
    private var waiting: [Key: [CheckedContinuation<Void, Never>]] = [:]
    private var held: Set<Key> = []

    package init() {}

    package func withLock<T: Sendable>(_ key: Key, _ body: @Sendable () async throws -> T) async throws -> T {
        if held.contains(key) {
            await withCheckedContinuation { waiting[key, default: []].append($0) }
        } else {
            held.insert(key)
        }
        defer { unlock(key) }
        return try await body()
    }

    private func unlock(_ key: Key) {
        if var queue = waiting[key], !queue.isEmpty {
            let next = queue.removeFirst()
            waiting[key] = queue.isEmpty ? nil : queue
            next.resume()
        } else {
            held.remove(key)
        }
    }
}
