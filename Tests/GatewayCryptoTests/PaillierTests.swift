import Foundation
import GatewayCrypto
import Testing

/// A seeded randomness source for property tests (SplitMix64). Lock-protected, since key generation draws from
/// two threads; which thread gets which draw is then up to the scheduler.
struct SeededRandom: RandomSource, @unchecked Sendable {
    final class State: @unchecked Sendable {
        var value: UInt64
        let lock = NSLock()
        init(_ v: UInt64) { value = v }
    }
    let state: State
    init(seed: UInt64) { state = State(seed) }

    func next() -> UInt64 {
        var z = state.lock.withLock {
            state.value &+= 0x9E37_79B9_7F4A_7C15
            return state.value
        }
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    func bytes(count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

@Suite struct GMPIntegerTests {
    @Test func decimalAndByteRoundTrips() {
        let text = "123456789012345678901234567890123456789"
        let value = GMPInteger(text)!
        #expect(value.toString() == text)
        #expect(GMPInteger(bigEndian: value.bigEndianBytes) == value)
        #expect(GMPInteger("12 3") == nil)
        #expect(GMPInteger("") == nil)
        #expect(GMPInteger("-42")!.intValue == -42)
        #expect(GMPInteger(0).bigEndianBytes.isEmpty)
    }

    @Test func arithmeticIdentities() {
        let a = GMPInteger("98765432109876543210987654321")!
        let b = GMPInteger("1234567890123456789")!
        let m = GMPInteger("1000000007")!
        #expect((a * b) / b == a)
        #expect((a + b) - b == a)
        #expect(a.multiplied(by: b, modulo: m) == (a * b).modulo(m))
        // Fermat: x^(p-1) ≡ 1 (mod p) for prime p.
        #expect(a.power(m - 1, modulo: m) == GMPInteger(1))
        #expect(a.powerSecret(m - 1, modulo: m) == GMPInteger(1))
        #expect(a.inverse(modulo: m)!.multiplied(by: a, modulo: m) == GMPInteger(1))
        #expect(GMPInteger(6).inverse(modulo: GMPInteger(9)) == nil)
        #expect(GMPInteger(-7).modulo(GMPInteger(5)) == GMPInteger(3))
        #expect(GMPInteger(97).isProbablePrime() && !GMPInteger(91).isProbablePrime())
    }
}

@Suite struct PaillierTests {
    // 1024-bit keys keep the property tests fast; a 2048-bit key is exercised separately.
    static let cachedKey = Result { try PaillierPrivateKey.generate(bits: 1024, using: SeededRandom(seed: 7)) }
    let key: PaillierPrivateKey

    /// A key generation that fails fails the suite's tests, not the runner.
    init() throws { key = try Self.cachedKey.get() }

    @Test func generatedModulusHasExactlyTheRequestedBits() throws {
        #expect(key.publicKey.bits == 1024)
        let big = try PaillierPrivateKey.generate(bits: 2048)
        #expect(big.publicKey.bits == 2048)
        let c = try big.publicKey.encrypt(-123_456_789)
        #expect(try big.decrypt(c) == GMPInteger(-123_456_789))
        let bigger = try PaillierPrivateKey.generate(bits: 3072)
        #expect(bigger.publicKey.bits == 3072)
        #expect(try bigger.decrypt(PaillierEncryptor(publicKey: bigger.publicKey).encrypt(77)) == GMPInteger(77))
        #expect(try PaillierPrivateKey(keyFile: bigger.keyFile).publicKey == bigger.publicKey)
    }

    @Test func encryptDecryptRoundTripsRandomSignedValues() throws {
        let random = SeededRandom(seed: 1)
        var values: [Int] = [0, 1, -1, Int.max, Int.min + 1]
        for _ in 0..<40 { values.append(Int(truncatingIfNeeded: random.next()) >> Int(random.next() % 60)) }
        for value in values {
            let c = try key.publicKey.encrypt(value, using: random)
            #expect(try key.decrypt(c) == GMPInteger(value), "value \(value)")
        }
    }

    @Test func ciphertextsOfTheSameValueDiffer() throws {
        let a = try key.publicKey.encrypt(5)
        let b = try key.publicKey.encrypt(5)
        #expect(a != b)
        let rerandomized = key.publicKey.rerandomize(a)
        #expect(rerandomized != a)
        #expect(try key.decrypt(rerandomized) == GMPInteger(5))
    }

    @Test func homomorphicAddSumAndScalarMultiply() throws {
        let pk = key.publicKey
        let random = SeededRandom(seed: 2)
        var plain: [Int] = []
        var cipher: [PaillierCiphertext] = []
        for _ in 0..<200 {
            let v = Int(truncatingIfNeeded: random.next() % 2_000_000) - 1_000_000
            plain.append(v)
            cipher.append(try pk.encrypt(v, using: random))
        }
        #expect(try key.decrypt(pk.sum(cipher)) == GMPInteger(plain.reduce(0, +)))
        #expect(try key.decrypt(pk.add(cipher[0], cipher[1])) == GMPInteger(plain[0] + plain[1]))
        #expect(try key.decrypt(pk.multiply(cipher[2], by: GMPInteger(-3))) == GMPInteger(plain[2] * -3))
        #expect(try key.decrypt(pk.sum([])) == GMPInteger(0))
    }

    @Test func valuesBeyondTheBandAreRejectedAndOverflowingSumsAreReportedNotWrong() throws {
        let pk = key.publicKey
        #expect(throws: CryptoError.self) { try pk.encrypt(pk.maxPlaintext + 1) }
        #expect(throws: CryptoError.self) { try pk.encrypt(GMPInteger(0) - pk.maxPlaintext - 1) }
        let big = try pk.encrypt(pk.maxPlaintext)
        // max + max lies in the middle third: decryption must report overflow rather than a wrong number.
        #expect(throws: CryptoError.self) { try key.decrypt(pk.add(big, big)) }
        #expect(try key.decrypt(big) == pk.maxPlaintext)
    }

    @Test func malformedCiphertextsAreRejected() throws {
        #expect(throws: CryptoError.self) { try key.decrypt(PaillierCiphertext(value: GMPInteger(0))) }
        #expect(throws: CryptoError.self) { try key.decrypt(PaillierCiphertext(value: key.publicKey.nSquared)) }
        #expect(throws: CryptoError.self) { try key.decrypt(PaillierCiphertext(value: key.publicKey.n)) }
    }

    @Test func serializedCiphertextsRoundTrip() throws {
        let c = try key.publicKey.encrypt(77)
        let bytes = c.serialized(for: key.publicKey)
        #expect(bytes.count == 256)
        #expect(try key.decrypt(PaillierCiphertext(serialized: bytes)) == GMPInteger(77))
    }

    @Test func keysRebuiltFromTheirPrimesDecrypt() throws {
        let primes = key.primes
        let rebuilt = try PaillierPrivateKey(p: GMPInteger(primes.p)!, q: GMPInteger(primes.q)!)
        #expect(try rebuilt.decrypt(key.publicKey.encrypt(-5)) == GMPInteger(-5))
        #expect(throws: CryptoError.self) { try PaillierPrivateKey(p: GMPInteger(primes.p)!, q: GMPInteger(primes.p)!) }
    }
}
