import Foundation

/// The discrete Laplace mechanism (issue 14): integer noise with P(X = x) = (1 − α)/(1 + α) · α^|x|, α = e^(−1/b),
/// b = sensitivity / ε. Added to an integer sum whose one-citizen change is at most `sensitivity`, it gives ε-differential
/// privacy: two statistics that differ by one citizen can no longer be subtracted to recover that citizen's value.
///
/// The noise can be drawn whole, or in shares: each of k holders draws `share(of: k)`, a difference of two Pólya
/// (negative binomial with shape 1/k) variables, and the k shares sum to exactly one discrete Laplace draw — the
/// distribution is infinitely divisible — so no holder knows the total noise, and the requester sees only the noisy sum.
///
/// Pure: randomness comes from the caller's generator (a CSPRNG in production: `SystemRandomNumberGenerator`; seeded
/// generators in tests). Floating point is used to sample; the released value is an integer.
public struct DiscreteLaplace: Sendable, Equatable {
    /// b = sensitivity / ε: the scale; the variance is 2α/(1 − α)².
    public let scale: Double
    public let epsilon: Double
    public let sensitivity: Int64

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case invalidEpsilon(Double)
        case invalidSensitivity(Int64)
        case invalidParties(Int)

        public var description: String {
            switch self {
            case .invalidEpsilon(let value): "ε must be a finite number in (0, 100], not \(value)"
            case .invalidSensitivity(let value): "the sensitivity must be 1 to 2^53, not \(value)"
            case .invalidParties(let value): "noise is shared among 1 to 1,000 parties, not \(value)"
            }
        }
    }

    public init(epsilon: Double, sensitivity: Int64) throws(Problem) {
        guard epsilon.isFinite, epsilon > 0, epsilon <= 100 else { throw .invalidEpsilon(epsilon) }
        guard sensitivity >= 1, sensitivity <= 1 << 53 else { throw .invalidSensitivity(sensitivity) }
        self.epsilon = epsilon
        self.sensitivity = sensitivity
        scale = Double(sensitivity) / epsilon
    }

    /// α = e^(−1/b).
    public var alpha: Double { exp(-1 / scale) }
    /// 1 − α, computed without cancellation for large scales.
    var oneMinusAlpha: Double { -expm1(-1 / scale) }

    /// The variance of one draw: 2α/(1 − α)².
    public var variance: Double { 2 * alpha / (oneMinusAlpha * oneMinusAlpha) }

    /// P(X = x).
    public func probability(of x: Int64) -> Double {
        oneMinusAlpha / (1 + alpha) * exp(-Double(x.magnitude) / scale)
    }

    /// One draw: the difference of two geometric variables (failures before a success of probability 1 − α).
    public func sample(using random: inout some RandomNumberGenerator) -> Int64 {
        geometric(using: &random) - geometric(using: &random)
    }

    /// One holder's share of a draw shared by `parties` holders: the shares of all parties sum to one draw.
    public func share(of parties: Int, using random: inout some RandomNumberGenerator) throws(Problem) -> Int64 {
        guard (1...1_000).contains(parties) else { throw .invalidParties(parties) }
        if parties == 1 { return sample(using: &random) }
        let shape = 1 / Double(parties)
        return polya(shape: shape, using: &random) - polya(shape: shape, using: &random)
    }

    /// Failures before the first success, success probability 1 − α: ⌊ln U / ln α⌋ with ln α = −1/b exactly.
    func geometric(using random: inout some RandomNumberGenerator) -> Int64 {
        Self.clamped((log(Sampling.openUnit(&random)) * -scale).rounded(.down))
    }

    /// Negative binomial (Pólya) with real shape r and success probability 1 − α: Poisson(λ), λ ~ Gamma(r, α/(1 − α)).
    func polya(shape: Double, using random: inout some RandomNumberGenerator) -> Int64 {
        let rate = Sampling.gamma(shape: shape, using: &random) * alpha / oneMinusAlpha
        return Sampling.poisson(rate, using: &random)
    }

    /// Draws far in the tail (probability below 2^−60 for any scale this type allows) are clamped, never trapped.
    static func clamped(_ value: Double) -> Int64 {
        guard value.isFinite else { return value < 0 ? -(1 << 62) : 1 << 62 }
        return Int64(max(-Double(1 << 62), min(Double(1 << 62), value)))
    }
}

/// The samplers the mechanism needs, from uniform 64-bit words.
package enum Sampling {
    /// Uniform on the open interval (0, 1).
    package static func openUnit(_ random: inout some RandomNumberGenerator) -> Double {
        (Double(random.next() >> 11) + 0.5) / 9_007_199_254_740_992
    }

    /// Standard normal (Box–Muller).
    package static func normal(_ random: inout some RandomNumberGenerator) -> Double {
        sqrt(-2 * log(openUnit(&random))) * cos(2 * Double.pi * openUnit(&random))
    }

    /// Gamma(shape, 1): Marsaglia–Tsang; a shape below 1 is boosted (Gamma(r) = Gamma(r + 1) · U^(1/r)).
    package static func gamma(shape: Double, using random: inout some RandomNumberGenerator) -> Double {
        if shape < 1 { return gamma(shape: shape + 1, using: &random) * pow(openUnit(&random), 1 / shape) }
        let d = shape - 1.0 / 3
        let c = 1 / sqrt(9 * d)
        while true {
            let x = normal(&random)
            let v = pow(1 + c * x, 3)
            guard v > 0 else { continue }
            let u = openUnit(&random)
            if u < 1 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
        }
    }

    /// Poisson(λ): multiplication of uniforms below 10, Hörmann's PTRS (transformed rejection) above.
    package static func poisson(_ lambda: Double, using random: inout some RandomNumberGenerator) -> Int64 {
        guard lambda > 0 else { return 0 }
        guard lambda.isFinite, lambda < 1e17 else { return DiscreteLaplace.clamped(lambda) }
        if lambda < 10 {
            let limit = exp(-lambda)
            var product = openUnit(&random)
            var count: Int64 = 0
            while product > limit {
                product *= openUnit(&random)
                count += 1
            }
            return count
        }
        let root = sqrt(lambda)
        let logLambda = log(lambda)
        let b = 0.931 + 2.53 * root
        let a = -0.059 + 0.02483 * b
        let inverseAlpha = 1.1239 + 1.1328 / (b - 3.4)
        let vr = 0.9277 - 3.6224 / (b - 2)
        while true {
            let u = openUnit(&random) - 0.5
            let v = openUnit(&random)
            let us = 0.5 - abs(u)
            let k = ((2 * a / us + b) * u + lambda + 0.43).rounded(.down)
            if us >= 0.07, v <= vr { return DiscreteLaplace.clamped(k) }
            if k < 0 || (us < 0.013 && v > us) { continue }
            if log(v) + log(inverseAlpha) - log(a / (us * us) + b) <= -lambda + k * logLambda - lgamma(k + 1) {
                return DiscreteLaplace.clamped(k)
            }
        }
    }
}
