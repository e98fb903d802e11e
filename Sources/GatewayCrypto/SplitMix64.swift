/// SplitMix64: a tiny, fully specified generator, so that one seed gives the same sequence on every machine and run.
/// For simulations and synthetic data only — never for keys or nonces (use `SystemRandom`).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// True with the given probability.
    public mutating func chance(_ probability: Double) -> Bool { Double(next() >> 11) / Double(UInt64(1) << 53) < probability }

    /// A value in 0..<bound (0 when bound ≤ 1).
    public mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(max(1, bound))) }
}
