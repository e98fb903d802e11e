import Foundation

/// Paillier's additively homomorphic encryption with g = n + 1.
///
/// Enc(m) = (1 + m·n) · rⁿ mod n²; Enc(a)·Enc(b) = Enc(a + b). Plaintexts are signed integers encoded modulo n;
/// only values with |m| < n/3 are accepted so that sums of many of them are still decoded correctly (the overflow
/// band), and a decoded value in the band between is reported as overflow, never as a wrong number.
public struct PaillierPublicKey: Sendable, Equatable {
    public let n: GMPInteger
    public let nSquared: GMPInteger
    /// Largest accepted |plaintext|: ⌊n/3⌋ − 1, the same band as python-paillier's `max_int`.
    public let maxPlaintext: GMPInteger

    public init(n: GMPInteger) {
        self.n = n
        self.nSquared = n * n
        self.maxPlaintext = n / GMPInteger(3) - GMPInteger(1)
    }

    public var bits: Int { n.bitWidth }

    /// Encrypts a signed integer.
    public func encrypt(_ value: GMPInteger, using random: some RandomSource = SystemRandom()) throws -> PaillierCiphertext {
        let encoded = try encode(value)
        // (1 + m·n) mod n² without an exponentiation, since g = n + 1.
        let gm = (GMPInteger(1) + encoded * n).modulo(nSquared)
        // The exponent n is public, so the variable-time powm is safe here (powm_sec protects secret exponents).
        let rn = randomUnit(using: random).power(n, modulo: nSquared)
        return PaillierCiphertext(value: gm.multiplied(by: rn, modulo: nSquared))
    }

    public func encrypt(_ value: Int, using random: some RandomSource = SystemRandom()) throws -> PaillierCiphertext {
        try encrypt(GMPInteger(value), using: random)
    }

    /// Homomorphic addition.
    public func add(_ lhs: PaillierCiphertext, _ rhs: PaillierCiphertext) -> PaillierCiphertext {
        PaillierCiphertext(value: lhs.value.multiplied(by: rhs.value, modulo: nSquared))
    }

    /// Homomorphic sum of many ciphertexts (Enc(0) with r = 1 for none). Large inputs are split across cores.
    public func sum(_ ciphertexts: [PaillierCiphertext]) -> PaillierCiphertext {
        let chunkMin = 512
        let workers = min(ProcessInfo.processInfo.activeProcessorCount, max(1, ciphertexts.count / chunkMin))
        guard workers > 1 else { return PaillierCiphertext(value: product(ciphertexts[...])) }
        let chunk = (ciphertexts.count + workers - 1) / workers
        let partials = parallelMap(workers) { worker in
            product(ciphertexts[min(worker * chunk, ciphertexts.count)..<min((worker + 1) * chunk, ciphertexts.count)])
        }
        return PaillierCiphertext(value: product(partials.map { PaillierCiphertext(value: $0) }[...]))
    }

    func product(_ ciphertexts: ArraySlice<PaillierCiphertext>) -> GMPInteger {
        GMPInteger.product(of: ciphertexts.map(\.value)[...], modulo: nSquared)
    }

    /// Homomorphic multiplication by a plaintext scalar.
    public func multiply(_ ciphertext: PaillierCiphertext, by scalar: GMPInteger) throws -> PaillierCiphertext {
        let k = try encode(scalar)
        return PaillierCiphertext(value: ciphertext.value.power(k, modulo: nSquared))
    }

    /// Fresh randomness on the same plaintext: c · rⁿ mod n². Every ciphertext that leaves the service gets this.
    public func rerandomize(_ ciphertext: PaillierCiphertext, using random: some RandomSource = SystemRandom()) -> PaillierCiphertext {
        let rn = randomUnit(using: random).power(n, modulo: nSquared)
        return PaillierCiphertext(value: ciphertext.value.multiplied(by: rn, modulo: nSquared))
    }

    /// Checks that a ciphertext is a unit in [1, n²) (a malformed one is rejected, not decrypted to garbage).
    public func validate(_ ciphertext: PaillierCiphertext) throws {
        guard ciphertext.value.signum > 0, ciphertext.value < nSquared,
            ciphertext.value.gcd(n) == GMPInteger(1)
        else { throw CryptoError(.invalidCiphertext, "ciphertext is not a unit modulo n²") }
    }

    func encode(_ value: GMPInteger) throws -> GMPInteger {
        guard value.magnitude <= maxPlaintext else {
            throw CryptoError(.overflow, "plaintext magnitude exceeds n/3")
        }
        return value.modulo(n)
    }

    /// Maps a residue back to a signed integer; residues in the middle third are overflow.
    public func decode(_ residue: GMPInteger) throws -> GMPInteger {
        if residue <= maxPlaintext { return residue }
        if residue >= n - maxPlaintext { return residue - n }
        throw CryptoError(.overflow, "decrypted value lies in the overflow band: the sum exceeded the encoding range")
    }

    private func randomUnit(using random: some RandomSource) -> GMPInteger {
        while true {
            let r = GMPInteger.random(below: n, using: random)
            if r.signum > 0, r.gcd(n) == GMPInteger(1) { return r }
        }
    }
}

public struct PaillierCiphertext: Sendable, Equatable, Hashable {
    public let value: GMPInteger

    public init(value: GMPInteger) { self.value = value }

    /// Fixed-width big-endian bytes (2·|n| bits), for storage.
    public func serialized(for key: PaillierPublicKey) -> [UInt8] {
        value.bigEndianBytes(width: (key.nSquared.bitWidth + 7) / 8)
    }

    public init(serialized bytes: [UInt8]) {
        self.value = GMPInteger(bigEndian: bytes)
    }
}

/// The private half: p and q, with CRT precomputations for decryption.
public struct PaillierPrivateKey: Sendable {
    public let publicKey: PaillierPublicKey
    let p: GMPInteger
    let q: GMPInteger
    let pSquared: GMPInteger
    let qSquared: GMPInteger
    let pMinusOne: GMPInteger
    let qMinusOne: GMPInteger
    /// hp = L_p(g^(p−1) mod p²)⁻¹ mod p, and the same for q.
    let hp: GMPInteger
    let hq: GMPInteger
    /// p⁻¹ mod q, for CRT recombination.
    let pInverseModQ: GMPInteger

    /// A key from its primes; p and q are checked (25 Miller–Rabin rounds after GMP's BPSW) unless they come straight
    /// from `generate`, whose `nextPrime` already ran those tests.
    public init(p: GMPInteger, q: GMPInteger) throws {
        try self.init(p: p, q: q, primalityChecked: false)
    }

    init(p: GMPInteger, q: GMPInteger, primalityChecked: Bool) throws {
        guard p != q, primalityChecked || (p.isProbablePrime(rounds: 25) && q.isProbablePrime(rounds: 25)) else {
            throw CryptoError(.invalidKey, "p and q must be distinct primes")
        }
        let n = p * q
        guard n.gcd((p - 1) * (q - 1)) == GMPInteger(1) else {
            throw CryptoError(.invalidKey, "gcd(n, φ(n)) must be 1")
        }
        self.publicKey = PaillierPublicKey(n: n)
        self.p = p
        self.q = q
        self.pSquared = p * p
        self.qSquared = q * q
        self.pMinusOne = p - 1
        self.qMinusOne = q - 1
        let g = n + 1
        func h(_ prime: GMPInteger, _ primeSquared: GMPInteger, _ primeMinusOne: GMPInteger) throws -> GMPInteger {
            let x = g.modulo(primeSquared).powerSecret(primeMinusOne, modulo: primeSquared)
            guard let inverse = ((x - 1) / prime).modulo(prime).inverse(modulo: prime) else {
                throw CryptoError(.invalidKey, "degenerate Paillier prime")
            }
            return inverse
        }
        self.hp = try h(p, pSquared, pMinusOne)
        self.hq = try h(q, qSquared, qMinusOne)
        guard let pInverse = p.inverse(modulo: q) else { throw CryptoError(.invalidKey, "p has no inverse mod q") }
        self.pInverseModQ = pInverse
    }

    /// Generates a key whose modulus has exactly `bits` bits (2048 by default); p and q are searched on two cores.
    public static func generate(bits: Int = 2048, using random: some RandomSource & Sendable = SystemRandom()) throws -> PaillierPrivateKey {
        precondition(bits >= 512 && bits % 2 == 0, "Paillier modulus must be an even number of bits ≥ 512")
        while true {
            let primes = parallelMap(2) { _ in randomPrime(bits: bits / 2, using: random) }
            guard primes[0] != primes[1], (primes[0] * primes[1]).bitWidth == bits else { continue }
            return try PaillierPrivateKey(p: primes[0], q: primes[1], primalityChecked: true)
        }
    }

    private static func randomPrime(bits: Int, using random: some RandomSource) -> GMPInteger {
        while true {
            // Top two bits set so that the product of two such primes has exactly 2·bits bits.
            let candidate = GMPInteger.random(bits: bits, using: random).settingBit(bits - 2)
            let prime = candidate.nextPrime()
            if prime.bitWidth == bits { return prime }
        }
    }

    /// Decrypts with the CRT halves modulo p² and q², computed in parallel.
    public func decrypt(_ ciphertext: PaillierCiphertext) throws -> GMPInteger {
        try publicKey.decode(decryptResidue(ciphertext))
    }

    /// The plaintext residue in [0, n), before the signed decoding.
    public func decryptResidue(_ ciphertext: PaillierCiphertext) throws -> GMPInteger {
        try publicKey.validate(ciphertext)
        let c = ciphertext.value
        let halves = parallelMap(2) { half in
            half == 0
                ? lFunction(c.modulo(pSquared).powerSecret(pMinusOne, modulo: pSquared), p).multiplied(by: hp, modulo: p)
                : lFunction(c.modulo(qSquared).powerSecret(qMinusOne, modulo: qSquared), q).multiplied(by: hq, modulo: q)
        }
        let mp = halves[0]
        let mq = halves[1]
        // m = mp + p · ((mq − mp) · p⁻¹ mod q)
        return mp + p * (mq - mp).multiplied(by: pInverseModQ, modulo: q)
    }

    private func lFunction(_ x: GMPInteger, _ divisor: GMPInteger) -> GMPInteger {
        (x - 1) / divisor
    }

    /// Decimal strings of the secret primes, for the key file.
    public var primes: (p: String, q: String) { (p.toString(), q.toString()) }
}

extension PaillierPrivateKey {
    /// The key file: n (public) and p, q (private) as decimal strings, as in `aggregation-key.json`.
    public struct KeyFile: Codable, Sendable, Equatable {
        public let n: String
        public let p: String
        public let q: String
    }

    public var keyFile: KeyFile {
        KeyFile(n: publicKey.n.toString(), p: p.toString(), q: q.toString())
    }

    /// Loads a key file; p and q are re-checked for primality and n must equal p·q.
    public init(keyFile: KeyFile) throws {
        guard let p = GMPInteger(keyFile.p), let q = GMPInteger(keyFile.q), let n = GMPInteger(keyFile.n) else {
            throw CryptoError(.invalidKey, "Paillier key file must hold decimal n, p and q")
        }
        try self.init(p: p, q: q)
        guard publicKey.n == n else { throw CryptoError(.invalidKey, "Paillier key file: n does not equal p·q") }
    }
}
