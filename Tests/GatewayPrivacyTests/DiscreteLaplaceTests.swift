import Foundation
import GatewayCrypto
import GatewayPrivacy
import Testing

/// The discrete Laplace mechanism against its own distribution, whole and in shares, and the subtraction attack it
/// defeats. Seeded (each test prints its seed; `DATAGATEWAY_FUZZ_SEED` replays one); the thresholds are chi-square and
/// normal quantiles at p = 0.001, so a correct sampler fails about one run in a thousand, and a wrong one every time.
@Suite struct DiscreteLaplaceTests {
    static func seed(_ test: String, _ fallback: UInt64) -> UInt64 {
        let seed = ProcessInfo.processInfo.environment["DATAGATEWAY_FUZZ_SEED"].flatMap(UInt64.init) ?? fallback
        print("\(test) seed \(seed) (DATAGATEWAY_FUZZ_SEED=\(seed) replays it)")
        return seed
    }

    /// Pearson's chi-square of samples against the pmf over [−span, span], with both tails as one bin each.
    static func chiSquare(_ samples: [Int64], _ mechanism: DiscreteLaplace, span: Int64) -> (statistic: Double, bins: Int) {
        var counts: [Int64: Int] = [:]
        for x in samples { counts[max(-span - 1, min(span + 1, x)), default: 0] += 1 }
        let n = Double(samples.count)
        var statistic = 0.0
        for x in (-span - 1)...(span + 1) {
            let p: Double
            if abs(x) <= span {
                p = mechanism.probability(of: x)
            } else {
                // P(X > span) = α^(span+1) / (1 + α), by symmetry the same below.
                p = pow(mechanism.alpha, Double(span + 1)) / (1 + mechanism.alpha)
            }
            let expected = n * p
            let observed = Double(counts[x] ?? 0)
            statistic += (observed - expected) * (observed - expected) / expected
        }
        return (statistic, Int(2 * span + 3))
    }

    /// Chi-square critical values at p = 0.001 (Wilson–Hilferty).
    static func critical(degrees: Int) -> Double {
        let k = Double(degrees)
        let z = 3.090_232
        return k * pow(1 - 2 / (9 * k) + z * sqrt(2 / (9 * k)), 3)
    }

    @Test func wholeDrawsFollowThePMF() throws {
        var random = SplitMix64(seed: Self.seed("wholeDrawsFollowThePMF", 1_401))
        let mechanism = try DiscreteLaplace(epsilon: 1, sensitivity: 2)
        let samples = (0..<200_000).map { _ in mechanism.sample(using: &random) }
        let (statistic, bins) = Self.chiSquare(samples, mechanism, span: 10)
        #expect(statistic < Self.critical(degrees: bins - 1), "chi-square \(statistic) over \(bins) bins")
    }

    @Test(arguments: [2, 3, 5])
    func sharesOfKPartiesSumToOneDraw(parties: Int) throws {
        var random = SplitMix64(seed: Self.seed("sharesOfKPartiesSumToOneDraw(\(parties))", 1_402 + UInt64(parties)))
        let mechanism = try DiscreteLaplace(epsilon: 0.8, sensitivity: 3)
        var totals: [Int64] = []
        var single: [Int64] = []
        for _ in 0..<100_000 {
            var total: Int64 = 0
            for party in 0..<parties {
                let share = try mechanism.share(of: parties, using: &random)
                if party == 0 { single.append(share) }
                total += share
            }
            totals.append(total)
        }
        let (statistic, bins) = Self.chiSquare(totals, mechanism, span: 12)
        #expect(statistic < Self.critical(degrees: bins - 1), "chi-square \(statistic) over \(bins) bins")
        // One share alone is a k-th of the noise: its variance is Var/k, so no holder knows the total.
        let shareVariance = single.map { Double($0 * $0) }.reduce(0, +) / Double(single.count)
        let expected = mechanism.variance / Double(parties)
        #expect(abs(shareVariance - expected) < 0.05 * expected, "share variance \(shareVariance), expected \(expected)")
    }

    /// At the scales incomes need (sensitivity 10,000,000, ε = 0.5), the shared noise keeps its mean and variance.
    @Test func largeScalesKeepMeanAndVariance() throws {
        var random = SplitMix64(seed: Self.seed("largeScalesKeepMeanAndVariance", 1_409))
        let mechanism = try DiscreteLaplace(epsilon: 0.5, sensitivity: 10_000_000)
        let n = 40_000
        var sum = 0.0
        var squares = 0.0
        for _ in 0..<n {
            var total: Int64 = 0
            for _ in 0..<3 { total += try mechanism.share(of: 3, using: &random) }
            sum += Double(total)
            squares += Double(total) * Double(total)
        }
        let mean = sum / Double(n)
        let variance = squares / Double(n) - mean * mean
        #expect(abs(mean) < 4 * sqrt(mechanism.variance / Double(n)), "mean \(mean)")
        // The sample variance of a Laplace has relative standard error sqrt(5/n) (excess kurtosis 3): 4σ is 4.5 %.
        #expect(abs(variance / mechanism.variance - 1) < 4 * sqrt(5 / Double(n)), "variance \(variance) vs \(mechanism.variance)")
    }

    /// The subtraction attack: a statistic before and after one citizen is published. Without noise the difference is
    /// that citizen's income; with noise its error is the difference of two draws (variance 2 Var), and exact
    /// recovery is as rare as the distribution says.
    @Test func theSubtractionAttackNoLongerDeterminesTheIncome() throws {
        var random = SplitMix64(seed: Self.seed("theSubtractionAttack", 1_410))
        let mechanism = try DiscreteLaplace(epsilon: 0.5, sensitivity: 100_000)
        let others: Int64 = 4_213_000
        let citizen: Int64 = 31_415
        let trials = 20_000
        var errors: [Double] = []
        var exact = 0
        for _ in 0..<trials {
            var before = others
            var after = others + citizen
            for _ in 0..<3 {
                before += try mechanism.share(of: 3, using: &random)
                after += try mechanism.share(of: 3, using: &random)
            }
            let error = after - before - citizen
            if error == 0 { exact += 1 }
            errors.append(Double(error))
        }
        let variance = errors.map { $0 * $0 }.reduce(0, +) / Double(trials)
        #expect(abs(variance / (2 * mechanism.variance) - 1) < 4 * sqrt(5 / Double(trials)), "error variance \(variance)")
        // P(error = 0) = Σ p(x)² = (1 − α)(1 + α²) / ((1 + α)³) — about 1.2e-6 here: a handful of trials at most.
        #expect(exact <= 3, "\(exact) exact recoveries in \(trials)")
    }

    @Test func samplersOfTheMechanismHaveTheirMoments() {
        var random = SplitMix64(seed: Self.seed("samplersOfTheMechanismHaveTheirMoments", 1_411))
        for lambda in [0.5, 3, 42, 1e6] {
            let n = 50_000
            let draws = (0..<n).map { _ in Double(Sampling.poisson(lambda, using: &random)) }
            let mean = draws.reduce(0, +) / Double(n)
            #expect(abs(mean - lambda) < 4 * sqrt(lambda / Double(n)), "Poisson(\(lambda)) mean \(mean)")
        }
        for shape in [0.2, 1.0, 7.5] {
            let n = 50_000
            let mean = (0..<n).map { _ in Sampling.gamma(shape: shape, using: &random) }.reduce(0, +) / Double(n)
            #expect(abs(mean - shape) < 4 * sqrt(shape / Double(n)), "Gamma(\(shape)) mean \(mean)")
        }
    }

    @Test func parametersOutsideTheirBoundsAreRefused() throws {
        #expect(throws: DiscreteLaplace.Problem.invalidEpsilon(0)) { try DiscreteLaplace(epsilon: 0, sensitivity: 1) }
        #expect(throws: DiscreteLaplace.Problem.self) { try DiscreteLaplace(epsilon: .nan, sensitivity: 1) }
        #expect(throws: DiscreteLaplace.Problem.self) { try DiscreteLaplace(epsilon: .infinity, sensitivity: 1) }
        #expect(throws: DiscreteLaplace.Problem.invalidSensitivity(0)) { try DiscreteLaplace(epsilon: 1, sensitivity: 0) }
        let mechanism = try DiscreteLaplace(epsilon: 1, sensitivity: 1)
        var random = SplitMix64(seed: 1)
        #expect(throws: DiscreteLaplace.Problem.invalidParties(0)) { try mechanism.share(of: 0, using: &random) }
        // The smallest ε at the largest sensitivity still samples finite integers.
        let widest = try DiscreteLaplace(epsilon: 1e-300, sensitivity: 1 << 53)
        #expect(abs(widest.sample(using: &random)) <= 1 << 62)
        #expect(abs(try widest.share(of: 7, using: &random)) <= 1 << 62)
    }
}
