import Foundation
import GatewayCrypto
import GatewayTestSupport
import Testing

@Suite struct PaillierFastTests {
    static let cachedKey = Result { try PaillierPrivateKey.generate(bits: 1024, using: SeededRandom(seed: 11)) }
    let key: PaillierPrivateKey
    let encryptor: PaillierEncryptor

    /// A key generation that fails fails the suite's tests, not the runner.
    init() throws {
        key = try Self.cachedKey.get()
        encryptor = PaillierEncryptor(publicKey: key.publicKey)
    }

    @Test func djnCiphertextsDecryptWithTheSameKey() throws {
        let random = SeededRandom(seed: 3)
        for _ in 0..<50 {
            let value = Int(truncatingIfNeeded: random.next()) >> 8
            #expect(try key.decrypt(encryptor.encrypt(value)) == GMPInteger(value))
        }
        #expect(try key.decrypt(encryptor.encrypt(0)) == GMPInteger(0))
        #expect(try encryptor.encrypt(7) != encryptor.encrypt(7))
        // DJN and plain ciphertexts mix homomorphically.
        let mixed = key.publicKey.add(try encryptor.encrypt(40), try key.publicKey.encrypt(2))
        #expect(try key.decrypt(mixed) == GMPInteger(42))
    }

    @Test func thePoolServesPrecomputedObfuscatorsAndStaysBounded() async throws {
        let pool = RandomnessPool(encryptor: encryptor, capacity: 16)
        pool.fill()
        #expect(pool.count == 16)
        let c = try encryptor.encrypt(-12_345, pool: pool)
        #expect(pool.count == 15)
        #expect(try key.decrypt(c) == GMPInteger(-12_345))
        let rerandomized = encryptor.rerandomize(c, pool: pool)
        #expect(rerandomized != c)
        #expect(try key.decrypt(rerandomized) == GMPInteger(-12_345))
        // Every take rings the owner's doorbell; refilling stops at capacity.
        let rings = Counter()
        pool.whenTaken { rings.increment() }
        for _ in 0..<40 { _ = try encryptor.encrypt(1, pool: pool) }
        #expect(rings.value == 14 && pool.count == 0)
        pool.fill()
        #expect(pool.count == 16 && !pool.refillOne() && pool.count == 16)
    }

    @Test func parallelSumsEqualSequentialOnes() throws {
        let pk = key.publicKey
        let values = (0..<3_000).map { ($0 * 7_919) % 100_000 - 50_000 }
        let ciphertexts = try values.map { try encryptor.encrypt($0) }
        #expect(try key.decrypt(pk.sum(ciphertexts)) == GMPInteger(values.reduce(0, +)))
        #expect(try key.decrypt(pk.sum(Array(ciphertexts.prefix(513)))) == GMPInteger(values.prefix(513).reduce(0, +)))
    }
}

@Suite struct FixedPointTests {
    let key: PaillierPrivateKey
    let pk: PaillierPublicKey
    let encryptor: PaillierEncryptor

    init() throws {
        key = try PaillierFastTests.cachedKey.get()
        pk = key.publicKey
        encryptor = PaillierEncryptor(publicKey: pk)
    }

    @Test func decimalsRoundTripWithinTheResolution() throws {
        let encoding = FixedPointEncoding(exponent: -8)
        for value in [0.0, 1.5, -2.25, 3.14159265, -1234.5678, 1e-9, 987_654_321.125] {
            let mantissa = try encoding.mantissa(value, for: pk)
            #expect(abs(encoding.decode(mantissa) - value) <= pow(16.0, -8) / 2 * 1.0001, "\(value)")
            let decrypted = try key.decrypt(encryptor.encrypt(mantissa))
            #expect(encoding.decode(decrypted) == encoding.decode(mantissa))
        }
        #expect(try encoding.mantissa(3, for: pk) == GMPInteger(3) * GMPInteger.power(16, 8))
    }

    @Test func roundingIsHalfToEvenLikePythonsRoundOfAFraction() throws {
        let encoding = FixedPointEncoding(exponent: 0)
        #expect(try encoding.mantissa(2.5, for: pk) == GMPInteger(2))
        #expect(try encoding.mantissa(3.5, for: pk) == GMPInteger(4))
        #expect(try encoding.mantissa(-2.5, for: pk) == GMPInteger(-2))
        #expect(try encoding.mantissa(2.25, for: pk) == GMPInteger(2))
    }

    @Test func sumsOfEncodedDecimalsDecodeToTheSum() throws {
        let encoding = FixedPointEncoding(exponent: -6)
        let values = [10.25, -3.5, 0.125, 1000.0625]
        let ciphertexts = try values.map { try encryptor.encrypt(encoding.mantissa($0, for: pk)) }
        #expect(encoding.decode(try key.decrypt(pk.sum(ciphertexts))) == values.reduce(0, +))
    }

    @Test func valuesOutsideTheBandAreErrors() {
        let encoding = FixedPointEncoding(exponent: -200 / 4)
        #expect(throws: CryptoError.self) { try encoding.mantissa(1e300, for: pk) }
        #expect(throws: CryptoError.self) { try encoding.mantissa(Double.nan, for: pk) }
        #expect(throws: CryptoError.self) { try encoding.mantissa(Double.infinity, for: pk) }
    }
}

@Suite struct ThresholdPaillierTests {
    static let cachedDeal = Result { try ThresholdPaillier.deal(bits: 512, threshold: 3, parties: 5, using: SeededRandom(seed: 99)) }
    let dealt: (ThresholdPaillier, [ThresholdPaillier.KeyShare])

    init() throws { dealt = try Self.cachedDeal.get() }

    static func subsets(_ items: [Int], size: Int) -> [[Int]] {
        if size == 0 { return [[]] }
        guard let first = items.first else { return [] }
        let rest = Array(items.dropFirst())
        return subsets(rest, size: size - 1).map { [first] + $0 } + subsets(rest, size: size)
    }

    @Test func everyThreeOfFiveSubsetDecryptsAndTwoSharesDoNot() throws {
        let (scheme, shares) = dealt
        #expect(scheme.publicKey.bits == 512)
        for value in [0, 42, -7_777_777] {
            let c = try scheme.publicKey.encrypt(value)
            let partials = try shares.map { try scheme.partialDecrypt(c, share: $0) }
            for partial in partials { #expect(scheme.verify(partial, for: c)) }
            let all = Self.subsets(Array(0..<5), size: 3)
            #expect(all.count == 10)
            for subset in all {
                #expect(try scheme.combine(subset.map { partials[$0] }, for: c) == GMPInteger(value), "\(subset)")
            }
            for pair in Self.subsets(Array(0..<5), size: 2) {
                #expect(throws: CryptoError.self) { try scheme.combine(pair.map { partials[$0] }, for: c) }
            }
            // The same party twice does not count twice.
            #expect(throws: CryptoError.self) { try scheme.combine([partials[0], partials[0], partials[1]], for: c) }
        }
    }

    @Test func aForgedOrMisdirectedPartialIsRejectedByItsProof() throws {
        let (scheme, shares) = dealt
        let c = try scheme.publicKey.encrypt(5)
        let other = try scheme.publicKey.encrypt(6)
        let good = try scheme.partialDecrypt(c, share: shares[0])
        let forgedValue = ThresholdPaillier.PartialDecryption(
            index: good.index, value: (GMPInteger(good.value)! * GMPInteger(2)).modulo(scheme.publicKey.nSquared).toString(),
            challenge: good.challenge, response: good.response
        )
        #expect(!scheme.verify(forgedValue, for: c))
        #expect(!scheme.verify(good, for: other))
        let wrongParty = ThresholdPaillier.PartialDecryption(index: 2, value: good.value, challenge: good.challenge, response: good.response)
        #expect(!scheme.verify(wrongParty, for: c))
        // Combination skips the forged one: with only two honest partials left it refuses.
        let honest = try [shares[1], shares[2]].map { try scheme.partialDecrypt(c, share: $0) }
        #expect(throws: CryptoError.self) { try scheme.combine([forgedValue] + honest, for: c) }
        #expect(try scheme.combine([good] + honest, for: c) == GMPInteger(5))
    }

    @Test func homomorphicSumsDecryptByThreshold() throws {
        let (scheme, shares) = dealt
        let total = scheme.publicKey.sum(try (1...20).map { try scheme.publicKey.encrypt($0 * 1_000) })
        let partials = try shares.suffix(3).map { try scheme.partialDecrypt(total, share: $0) }
        #expect(try scheme.combine(partials, for: total) == GMPInteger(210_000))
    }

    @Test func parametersRoundTripThroughJSON() throws {
        let (scheme, shares) = dealt
        let decoded = try ThresholdPaillier(
            parameters: JSONDecoder().decode(ThresholdPaillier.PublicParameters.self, from: JSONEncoder().encode(scheme.parameters)))
        let c = try decoded.publicKey.encrypt(9)
        let partials = try shares.prefix(3).map { try decoded.partialDecrypt(c, share: $0) }
        #expect(try decoded.combine(partials, for: c) == GMPInteger(9))
    }
}

/// Interoperability with python-paillier 1.5 (phe), the reference implementation, in both directions.
@Suite struct PythonPaillierInteropTests {
    static let exponent = -8
    let key: PaillierPrivateKey
    let encryptor: PaillierEncryptor

    init() throws {
        key = try PaillierFastTests.cachedKey.get()
        encryptor = PaillierEncryptor(publicKey: key.publicKey)
    }

    @Test func phesCiphertextsDecryptHereAndOursDecryptInPhe() async throws {
        let pk = key.publicKey
        let primes = key.primes
        let encoding = FixedPointEncoding(exponent: Self.exponent)
        let values: [Double] = [0, 1, -1, 42, -123_456_789, 3.25, -0.0625, 1234.5678, 1e-6]
        // Ours → phe.
        let ours = try values.map { try encryptor.encrypt(encoding.mantissa($0, for: pk)).value.toString() }
        let plain = try values.map { try pk.encrypt(encoding.mantissa($0, for: pk)).value.toString() }
        let input: [String: Any] = [
            "n": pk.n.toString(), "p": primes.p, "q": primes.q, "exponent": Self.exponent,
            "values": values, "ours": ours, "plain": plain,
        ]
        let script = """
            import json, sys
            from phe import paillier, EncryptedNumber
            spec = json.load(sys.stdin)
            pk = paillier.PaillierPublicKey(int(spec["n"]))
            sk = paillier.PaillierPrivateKey(pk, int(spec["p"]), int(spec["q"]))
            e = spec["exponent"]
            decrypt = lambda c: sk.decrypt(EncryptedNumber(pk, int(c), e))
            encrypted = [EncryptedNumber(pk, int(c), e) for c in spec["ours"]]
            total = encrypted[0]
            for x in encrypted[1:]:
                total = total + x
            out = {
                "ours": [decrypt(c) for c in spec["ours"]],
                "plain": [decrypt(c) for c in spec["plain"]],
                "sum": sk.decrypt(total),
                "theirs": [],
            }
            for v in spec["values"]:
                enc = pk.encrypt(v, precision=16 ** e)
                enc = enc.decrease_exponent_to(e) if enc.exponent > e else enc
                out["theirs"].append({"c": str(enc.ciphertext(be_secure=True)), "exponent": enc.exponent})
            print(json.dumps(out))
            """
        let result = try await runProcess(TestPaths.python, ["-c", script], input: try JSONSerialization.data(withJSONObject: input))
        try #require(result.status == 0, "phe failed (run scripts/setup.sh): \(result.stderr)")
        let output = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        let resolution = pow(16.0, Double(Self.exponent))
        for (index, value) in values.enumerated() {
            #expect(abs((output["ours"] as! [Double])[index] - value) <= resolution, "phe decrypting our DJN ciphertext of \(value)")
            #expect(abs((output["plain"] as! [Double])[index] - value) <= resolution, "phe decrypting our plain ciphertext of \(value)")
        }
        #expect(abs((output["sum"] as! Double) - values.reduce(0, +)) <= resolution * Double(values.count))
        // phe → ours.
        for (index, entry) in (output["theirs"] as! [[String: Any]]).enumerated() {
            let c = PaillierCiphertext(value: GMPInteger(entry["c"] as! String)!)
            #expect(entry["exponent"] as! Int == Self.exponent)
            let decoded = encoding.decode(try key.decrypt(c))
            #expect(abs(decoded - values[index]) <= resolution, "our decryption of phe's ciphertext of \(values[index])")
        }
    }
}

/// A thread-safe counter for callbacks.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
