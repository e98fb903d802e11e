import Foundation

/// Fast Paillier encryption in the Damgård–Jurik–Nielsen variant (as in Intel's Paillier library):
/// instead of a full rⁿ mod n² per encryption, the obfuscator is hˢᵃ where hₛ = hⁿ mod n² is fixed for the key
/// (h = −y² mod n for a random unit y) and a is a short random exponent of ⌈|n|/2⌉ bits.
/// hₛᵃ is computed by fixed-base exponentiation: a table of hₛ^(d·2^(w·i)) for every w-bit window i and digit d,
/// so an obfuscator costs one modular multiplication per window (128 for a 2048-bit key with 8-bit windows)
/// instead of a 2048-bit exponentiation. Obfuscators can also be made ahead of time by a `RandomnessPool`.
///
/// `PaillierPublicKey.encrypt` (plain rⁿ) stays as the reference implementation; both produce ciphertexts of the
/// same form (1 + m·n)·u mod n² with u an n-th residue, decryptable by the same key.
public final class PaillierEncryptor: @unchecked Sendable {
    // Safety: all stored properties are immutable after init; the table is read-only.
    public let publicKey: PaillierPublicKey
    let windowBits: Int
    let exponentBits: Int
    /// table[i][d] = hₛ^(d · 2^(windowBits·i)) mod n².
    let table: [[GMPInteger]]
    let random: any RandomSource

    /// Builds the fixed-base table (the one-off cost of this method).
    public init(publicKey: PaillierPublicKey, windowBits: Int = 8, random: any RandomSource = SystemRandom()) {
        precondition((1...12).contains(windowBits), "window of 1 to 12 bits")
        self.publicKey = publicKey
        self.windowBits = windowBits
        self.exponentBits = (publicKey.bits + 1) / 2
        self.random = random
        let n = publicKey.n
        let nSquared = publicKey.nSquared
        var y: GMPInteger
        repeat { y = GMPInteger.random(below: n, using: random) } while y.signum == 0 || y.gcd(n) != GMPInteger(1)
        let h = (n - y.multiplied(by: y, modulo: n)).modulo(n)
        let hs = h.power(n, modulo: nSquared)
        let windows = (exponentBits + windowBits - 1) / windowBits
        let digits = 1 << windowBits
        var table: [[GMPInteger]] = []
        table.reserveCapacity(windows)
        var base = hs
        for _ in 0..<windows {
            var row = [GMPInteger](repeating: GMPInteger(1), count: digits)
            let accumulator = MPZAccumulator(GMPInteger(1))
            for digit in 1..<digits {
                accumulator.multiply(by: base, modulo: nSquared)
                row[digit] = accumulator.result
            }
            table.append(row)
            // Next window's base: base^(2^windowBits) = row[digits-1] · base.
            base = row[digits - 1].multiplied(by: base, modulo: nSquared)
        }
        self.table = table
    }

    /// A fresh obfuscator hₛᵃ mod n² for a random a of `exponentBits` bits.
    public func makeObfuscator() -> GMPInteger {
        var exponentBytes = random.bytes(count: (exponentBits + 7) / 8)
        defer { secureZero(&exponentBytes) }
        let a = GMPInteger(bigEndian: exponentBytes)
        let accumulator = MPZAccumulator(GMPInteger(1))
        for (window, row) in table.enumerated() {
            let digit = a.bits(at: window * windowBits, count: windowBits)
            if digit != 0 { accumulator.multiply(by: row[digit], modulo: publicKey.nSquared) }
        }
        return accumulator.result
    }

    /// Encrypts with an obfuscator from `pool` if it has one, else a freshly made one.
    public func encrypt(_ value: GMPInteger, pool: RandomnessPool? = nil) throws -> PaillierCiphertext {
        let encoded = try publicKey.encode(value)
        let gm = (GMPInteger(1) + encoded * publicKey.n).modulo(publicKey.nSquared)
        let obfuscator = pool?.take() ?? makeObfuscator()
        return PaillierCiphertext(value: gm.multiplied(by: obfuscator, modulo: publicKey.nSquared))
    }

    public func encrypt(_ value: Int, pool: RandomnessPool? = nil) throws -> PaillierCiphertext {
        try encrypt(GMPInteger(value), pool: pool)
    }

    /// Re-randomises a ciphertext (same plaintext, fresh randomness): for every ciphertext that leaves the service.
    public func rerandomize(_ ciphertext: PaillierCiphertext, pool: RandomnessPool? = nil) -> PaillierCiphertext {
        let obfuscator = pool?.take() ?? makeObfuscator()
        return PaillierCiphertext(value: ciphertext.value.multiplied(by: obfuscator, modulo: publicKey.nSquared))
    }
}

/// Obfuscators made ahead of time, so that the online cost of an encryption is one modular multiplication.
/// Passive and bounded: it never holds more than `capacity` values, `take()` never blocks (it returns nil when empty
/// and the caller computes one itself), and it runs no thread of its own — whoever owns it refills it (`refillOne`,
/// `fill`), woken by `whenTaken` rather than by polling (the node's `RandomnessPoolService`).
public final class RandomnessPool: @unchecked Sendable {
    // Safety: `values` and `onTake` are only touched under `lock`.
    let encryptor: PaillierEncryptor
    public let capacity: Int
    let lock = NSLock()
    var values: [GMPInteger] = []
    var onTake: (@Sendable () -> Void)?

    public init(encryptor: PaillierEncryptor, capacity: Int) {
        precondition(capacity > 0)
        self.encryptor = encryptor
        self.capacity = capacity
    }

    public var count: Int { lock.withLock { values.count } }
    public var isFull: Bool { count >= capacity }

    public func take() -> GMPInteger? {
        let (value, handler) = lock.withLock { (values.popLast(), onTake) }
        if value != nil { handler?() }
        return value
    }

    /// Called after every `take()` that removed a value (the owner's cue to refill).
    public func whenTaken(_ handler: @escaping @Sendable () -> Void) {
        lock.withLock { onTake = handler }
    }

    /// Computes one obfuscator and keeps it if there is room; false (and nothing computed) when the pool is full.
    @discardableResult
    public func refillOne() -> Bool {
        guard !isFull else { return false }
        let value = encryptor.makeObfuscator()
        return lock.withLock {
            guard values.count < capacity else { return false }
            values.append(value)
            return true
        }
    }

    /// Fills the pool synchronously on the calling thread (for tests and for warm starts).
    public func fill() {
        while refillOne() {}
    }
}
