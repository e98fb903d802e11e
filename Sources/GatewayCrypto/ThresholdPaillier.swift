import CGMP
import Crypto
import Foundation

/// t-of-ℓ threshold Paillier decryption (Damgård–Jurik with s = 1, after Shoup's threshold RSA), with a trusted
/// dealer and safe primes p = 2p′+1, q = 2q′+1. The secret d satisfies d ≡ 0 (mod p′q′), d ≡ 1 (mod n) and is shared
/// with a degree t−1 polynomial over ℤ_{n·p′q′}. Party i publishes cᵢ = c^(2Δsᵢ) with a proof that it used its share;
/// any t valid partials combine to the plaintext; t−1 shares reveal nothing about d (Shamir), and `combine` refuses
/// to run with fewer than t verified partials.
public struct ThresholdPaillier: Sendable {
    /// What everyone may know: the Paillier public key, t, ℓ, and the verification keys of the shares.
    public struct PublicParameters: Sendable, Codable, Equatable {
        public let n: String
        public let threshold: Int
        public let parties: Int
        /// v, a random square mod n², and vᵢ = v^(Δsᵢ) for i = 1…ℓ (decimal strings).
        public let verificationBase: String
        public let verificationKeys: [String]
    }

    /// One party's secret share (index 1…ℓ).
    public struct KeyShare: Sendable, Codable {
        public let index: Int
        public let secret: String

        public init(index: Int, secret: String) {
            self.index = index
            self.secret = secret
        }
    }

    /// A party's contribution to one decryption, with its proof of correctness.
    public struct PartialDecryption: Sendable, Codable, Equatable {
        public let index: Int
        public let value: String
        public let challenge: String
        public let response: String

        public init(index: Int, value: String, challenge: String, response: String) {
            self.index = index
            self.value = value
            self.challenge = challenge
            self.response = response
        }
    }

    public let parameters: PublicParameters
    public let publicKey: PaillierPublicKey
    let delta: GMPInteger
    let v: GMPInteger
    let verificationKeys: [GMPInteger]

    public init(parameters: PublicParameters) throws {
        guard let n = GMPInteger(parameters.n), let v = GMPInteger(parameters.verificationBase),
            parameters.threshold >= 1, parameters.threshold <= parameters.parties, parameters.parties <= 64,
            parameters.verificationKeys.count == parameters.parties
        else { throw CryptoError(.invalidKey, "malformed threshold parameters") }
        self.parameters = parameters
        self.publicKey = PaillierPublicKey(n: n)
        self.delta = Self.factorial(parameters.parties)
        self.v = v
        self.verificationKeys = try parameters.verificationKeys.map {
            guard let key = GMPInteger($0) else { throw CryptoError(.invalidKey, "malformed verification key") }
            return key
        }
    }

    static func factorial(_ n: Int) -> GMPInteger {
        (1...max(1, n)).reduce(GMPInteger(1)) { $0 * GMPInteger($1) }
    }

    // MARK: Dealing

    /// Generates a fresh key with safe primes and deals ℓ shares. Slow for real sizes (safe primes): `progress`
    /// receives a line per prime found.
    public static func deal(
        bits: Int = 2048, threshold: Int, parties: Int, using random: some RandomSource & Sendable = SystemRandom(),
        progress: (String) -> Void = { _ in }
    ) throws -> (ThresholdPaillier, [KeyShare]) {
        try deal(bits: bits, threshold: threshold, parties: parties, using: random, progress: progress, revealingFactorsTo: nil)
    }

    /// `deal`, telling a test the factors so that it can search every file and table for them. The factors, λ and d
    /// exist only in this call's memory, which GMP clears when it frees it.
    package static func deal(
        bits: Int, threshold: Int, parties: Int, using random: some RandomSource & Sendable, progress: (String) -> Void,
        revealingFactorsTo factors: ((GMPInteger, GMPInteger) -> Void)?
    ) throws -> (ThresholdPaillier, [KeyShare]) {
        precondition(bits >= 256 && bits % 2 == 0, "modulus of at least 256 bits")
        precondition(threshold >= 1 && threshold <= parties && parties <= 64, "need 1 ≤ t ≤ ℓ ≤ 64")
        var p: GMPInteger
        var q: GMPInteger
        repeat {
            progress("searching two \(bits / 2)-bit safe primes on all cores…")
            let primes = parallelMap(2) { _ in SafePrime.generate(bits: bits / 2, using: random) }
            (p, q) = (primes[0], primes[1])
        } while p == q || (p * q).bitWidth != bits
        factors?(p, q)
        progress("safe primes found; dealing \(parties) shares")
        let n = p * q
        let nSquared = n * n
        let m = ((p - 1) / GMPInteger(2)) * ((q - 1) / GMPInteger(2))
        let modulus = n * m
        guard let mInverse = m.inverse(modulo: n) else { throw CryptoError(.invalidKey, "gcd(n, p′q′) ≠ 1") }
        let d = m * mInverse  // ≡ 0 mod m, ≡ 1 mod n
        let coefficients = [d] + (1..<threshold).map { _ in GMPInteger.random(below: modulus, using: random) }
        var shares: [KeyShare] = []
        var secrets: [GMPInteger] = []
        for index in 1...parties {
            var value = GMPInteger(0)
            for coefficient in coefficients.reversed() { value = (value * GMPInteger(index) + coefficient).modulo(modulus) }
            secrets.append(value)
            shares.append(KeyShare(index: index, secret: value.toString()))
        }
        let delta = factorial(parties)
        var r: GMPInteger
        repeat { r = GMPInteger.random(below: nSquared, using: random) } while r.signum == 0 || r.gcd(n) != GMPInteger(1)
        let v = r.multiplied(by: r, modulo: nSquared)
        let parameters = PublicParameters(
            n: n.toString(), threshold: threshold, parties: parties, verificationBase: v.toString(),
            verificationKeys: secrets.map { v.powerSecret(delta * $0, modulo: nSquared).toString() }
        )
        return (try ThresholdPaillier(parameters: parameters), shares)
    }

    /// Whether `share` is the share whose verification key is published: v^(Δsᵢ) = vᵢ.
    public func check(_ share: KeyShare) -> Bool {
        guard (1...parameters.parties).contains(share.index), let secret = GMPInteger(share.secret), secret.signum > 0 else { return false }
        return v.powerSecret(delta * secret, modulo: publicKey.nSquared) == verificationKeys[share.index - 1]
    }

    // MARK: Partial decryption

    /// cᵢ = c^(2Δsᵢ) mod n², with a non-interactive proof that log_{c⁴}(cᵢ²) = log_v(vᵢ).
    public func partialDecrypt(_ ciphertext: PaillierCiphertext, share: KeyShare, using random: some RandomSource = SystemRandom()) throws
        -> PartialDecryption
    {
        try publicKey.validate(ciphertext)
        guard (1...parameters.parties).contains(share.index), let secret = GMPInteger(share.secret) else {
            throw CryptoError(.invalidKey, "malformed key share")
        }
        let nSquared = publicKey.nSquared
        let exponent = delta * secret
        // Proof: r with |n²| + 2·256 bits hides Δsᵢ statistically.
        let r = GMPInteger.random(bits: nSquared.bitWidth + 512, using: random)
        let c4 = ciphertext.value.power(GMPInteger(4), modulo: nSquared)
        let v = self.v
        // The three exponentiations are independent: run them on all cores.
        let powers = parallelMap(3) { which in
            switch which {
            case 0: return ciphertext.value.powerSecret(GMPInteger(2) * exponent, modulo: nSquared)
            case 1: return c4.powerSecret(r, modulo: nSquared)
            default: return v.powerSecret(r, modulo: nSquared)
            }
        }
        let (ci, a, b) = (powers[0], powers[1], powers[2])
        let ci2 = ci.multiplied(by: ci, modulo: nSquared)
        let e = challenge(c4: c4, ci2: ci2, vi: verificationKeys[share.index - 1], a: a, b: b, index: share.index)
        let z = r + e * exponent
        return PartialDecryption(index: share.index, value: ci.toString(), challenge: e.toString(), response: z.toString())
    }

    /// Checks a partial decryption's proof against the party's verification key.
    public func verify(_ partial: PartialDecryption, for ciphertext: PaillierCiphertext) -> Bool {
        guard (1...parameters.parties).contains(partial.index), let ci = GMPInteger(partial.value), let e = GMPInteger(partial.challenge),
            let z = GMPInteger(partial.response), e.signum >= 0, z.signum > 0, ci.signum > 0, ci < publicKey.nSquared
        else { return false }
        let nSquared = publicKey.nSquared
        let c4 = ciphertext.value.power(GMPInteger(4), modulo: nSquared)
        let ci2 = ci.multiplied(by: ci, modulo: nSquared)
        let vi = verificationKeys[partial.index - 1]
        guard let ci2Inverse = ci2.inverse(modulo: nSquared), let viInverse = vi.inverse(modulo: nSquared) else { return false }
        // a = c⁴^z · (cᵢ²)^−e, b = v^z · vᵢ^−e; the proof holds iff hashing them gives back e.
        // The two sides are independent: on all cores (a packed statistic has one ciphertext and a few partials).
        let v = self.v
        let sides = parallelMap(2) { side in
            side == 0
                ? c4.power(z, modulo: nSquared).multiplied(by: ci2Inverse.power(e, modulo: nSquared), modulo: nSquared)
                : v.power(z, modulo: nSquared).multiplied(by: viInverse.power(e, modulo: nSquared), modulo: nSquared)
        }
        return challenge(c4: c4, ci2: ci2, vi: vi, a: sides[0], b: sides[1], index: partial.index) == e
    }

    /// Checks one party's partial decryptions of many ciphertexts (pairwise), on all cores; false if any fails or the
    /// counts differ.
    public func verifyAll(_ partials: [PartialDecryption], for ciphertexts: [PaillierCiphertext]) -> Bool {
        guard partials.count == ciphertexts.count else { return false }
        return parallelMap(partials.count) { verify(partials[$0], for: ciphertexts[$0]) }.allSatisfy { $0 }
    }

    func challenge(c4: GMPInteger, ci2: GMPInteger, vi: GMPInteger, a: GMPInteger, b: GMPInteger, index: Int) -> GMPInteger {
        var hasher = SHA256()
        hasher.update(data: Array("datagateway/threshold-paillier/proof/v1".utf8))
        for value in [publicKey.n, v, c4, ci2, vi, a, b, GMPInteger(index)] {
            let bytes = value.bigEndianBytes
            hasher.update(data: withUnsafeBytes(of: UInt32(bytes.count).bigEndian, Array.init))
            hasher.update(data: bytes)
        }
        return GMPInteger(bigEndian: Array(hasher.finalize()))
    }

    // MARK: Combination

    /// Combines partial decryptions: verifies every proof, needs t valid ones from distinct parties.
    /// `proofsVerified`: the caller has already checked every partial's proof (`verify`), as a combiner that checks
    /// each party once for many groups does.
    public func combine(_ partials: [PartialDecryption], for ciphertext: PaillierCiphertext, proofsVerified: Bool = false) throws -> GMPInteger {
        // Proofs are verified in parallel; the first valid partial of each party counts.
        let verdicts = proofsVerified ? partials.map { _ in true } : parallelMap(partials.count) { verify(partials[$0], for: ciphertext) }
        var valid: [Int: GMPInteger] = [:]
        for (partial, ok) in zip(partials, verdicts) where ok && valid[partial.index] == nil {
            valid[partial.index] = GMPInteger(partial.value)!
        }
        guard valid.count >= parameters.threshold else {
            throw CryptoError(.invalidCiphertext, "need \(parameters.threshold) valid partial decryptions, have \(valid.count)")
        }
        let chosen = valid.keys.sorted().prefix(parameters.threshold)
        let nSquared = publicKey.nSquared
        let accumulator = MPZAccumulator(GMPInteger(1))
        for i in chosen {
            // μᵢ = Δ · Π_{j≠i} j / (j − i), an integer because Δ = ℓ!.
            var numerator = delta
            var denominator = GMPInteger(1)
            for j in chosen where j != i {
                numerator = numerator * GMPInteger(j)
                denominator = denominator * GMPInteger(j - i)
            }
            let mu = numerator / denominator
            precondition(mu * denominator == numerator, "Lagrange coefficient is not integral")
            var base = valid[i]!
            if mu.signum < 0 { base = base.inverse(modulo: nSquared)! }
            accumulator.multiply(by: base.power(GMPInteger(2) * mu.magnitude, modulo: nSquared), modulo: nSquared)
        }
        // c′ = c^(4Δ²d) = (1 + n)^(4Δ²M) ⇒ L(c′) = 4Δ²M mod n.
        let l = (accumulator.result - 1) / publicKey.n
        guard let scale = (GMPInteger(4) * delta * delta).inverse(modulo: publicKey.n) else {
            throw CryptoError(.invalidKey, "4Δ² is not invertible mod n")
        }
        return try publicKey.decode(l.multiplied(by: scale, modulo: publicKey.n))
    }
}

/// Safe primes p = 2q + 1: a random window of candidates q is sieved for both q and 2q + 1 against small primes,
/// and only survivors go to Miller–Rabin.
enum SafePrime {
    static let smallPrimes: [UInt] = {
        let limit = 1 << 16
        var composite = [Bool](repeating: false, count: limit)
        var primes: [UInt] = []
        for i in 3..<limit where !composite[i] && i % 2 == 1 {
            primes.append(UInt(i))
            var j = i * i
            while j < limit { composite[j] = true; j += 2 * i }
        }
        return primes
    }()

    static let window = 1 << 14

    static func generate(bits: Int, using random: some RandomSource) -> GMPInteger {
        precondition(bits >= 16)
        while true {
            // q has bits−1 bits with its two top bits set (so products of two such p have exactly 2·bits bits), odd.
            var q0 = GMPInteger.random(bits: bits - 1, using: random).settingBit(bits - 3).settingBit(0)
            if bits - 3 < 1 { q0 = q0.settingBit(0) }
            // sieve[j] covers q = q0 + 2j.
            var sieve = [Bool](repeating: true, count: window)
            for prime in smallPrimes where UInt(bits) > 20 || prime * prime < (UInt(1) << UInt(bits - 1)) {
                let residue = UInt(__gmpz_fdiv_ui(q0.storage.value, prime))
                let halfInverse = (prime + 1) / 2
                // q0 + 2j ≡ 0  ⇔ j ≡ −q0 · 2⁻¹;  2(q0 + 2j) + 1 ≡ 0 ⇔ q0 + 2j ≡ (p−1)/2 ⇔ j ≡ ((p−1)/2 − q0) · 2⁻¹.
                for target in [UInt(0), (prime - 1) / 2] {
                    var j = ((target + prime - residue) % prime) * halfInverse % prime
                    while j < UInt(window) {
                        sieve[Int(j)] = false
                        j += prime
                    }
                }
            }
            for j in 0..<window where sieve[j] {
                let q = q0 + GMPInteger(2 * j)
                guard q.bitWidth == bits - 1 else { break }
                let p = q * GMPInteger(2) + GMPInteger(1)
                // Cheap tests first, the full ones only for a likely pair.
                guard p.isProbablePrime(rounds: 1), q.isProbablePrime(rounds: 1) else { continue }
                if q.isProbablePrime(rounds: 25) && p.isProbablePrime(rounds: 25) { return p }
            }
        }
    }
}
