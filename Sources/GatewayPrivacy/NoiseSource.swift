import Foundation

/// Where noise comes from: a generator shared by concurrent requests behind a lock. Production uses the system's
/// cryptographically secure generator; tests inject a seeded one, so a noisy statistic can be replayed.
public final class NoiseSource: @unchecked Sendable {
    // Safety: `generator` is only touched under `lock`.
    private let lock = NSLock()
    private var generator: any RandomNumberGenerator

    public init(_ generator: any RandomNumberGenerator = SystemRandomNumberGenerator()) {
        self.generator = generator
    }

    /// One whole draw of the mechanism.
    public func draw(_ mechanism: DiscreteLaplace) -> Int64 {
        lock.withLock { mechanism.sample(using: &generator) }
    }

    /// One holder's share of a draw split among `parties` holders (the shares of all holders sum to one draw).
    public func share(_ mechanism: DiscreteLaplace, of parties: Int) throws(DiscreteLaplace.Problem) -> Int64 {
        lock.lock()
        defer { lock.unlock() }
        return try mechanism.share(of: parties, using: &generator)
    }
}
