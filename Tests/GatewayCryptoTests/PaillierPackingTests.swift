import Foundation
import GatewayCrypto
import GatewayTestSupport
import Testing

/// Packing: any values within a slot's range come back exactly, in order, whatever their count and sign, with the
/// whole key and with a threshold decryption; a slot width too wide for two slots leaves ciphertexts alone.
@Suite struct PaillierPackingTests {
    static let cachedKey = Result { try PaillierPrivateKey.generate(bits: 1024, using: SeededRandom(seed: 29)) }
    let key: PaillierPrivateKey

    init() throws { key = try Self.cachedKey.get() }

    /// A value of at most `bits` bits of magnitude, either sign, often at the edges of the slot's range.
    static func value(_ random: SeededRandom, magnitudeBits bits: Int) -> GMPInteger {
        let edge = GMPInteger.powerOfTwo(bits)
        switch random.next() % 5 {
        case 0: return edge.negated  // the lowest a slot holds
        case 1: return edge - GMPInteger(1)  // the highest
        case 2: return GMPInteger(0)
        default:
            let magnitude = GMPInteger.random(below: edge, using: random)
            return random.next() % 2 == 0 ? magnitude : magnitude.negated
        }
    }

    @Test(arguments: [16, 24, 72, 128, 336])
    func packedValuesComeBackExactlyInOrder(slotBits: Int) throws {
        let seed = UInt64(slotBits) * 7_919
        print("PaillierPackingTests seed \(seed)")
        let random = SeededRandom(seed: seed)
        let publicKey = key.publicKey
        let packing = PaillierPacking(publicKey: publicKey, slotBits: slotBits)
        #expect(packing.slotBits == slotBits)
        #expect(packing.slots == (publicKey.bits - 3) / slotBits)
        for count in [1, packing.slots - 1, packing.slots, packing.slots + 1, 2 * packing.slots + 3] where count > 0 {
            let values = (0..<count).map { _ in Self.value(random, magnitudeBits: slotBits - 1) }
            let ciphertexts = try values.map { try publicKey.encrypt($0, using: random) }
            let packed = packing.pack(ciphertexts)
            #expect(packed.count == packing.packedCount(count))
            let plaintexts = try packed.map { try key.decrypt($0) }
            #expect(try packing.unpack(plaintexts, count: count) == values, "\(count) values in slots of \(slotBits) bits")
        }
    }

    @Test func aThresholdDecryptionOfOnePackedCiphertextGivesEveryGroup() throws {
        let (scheme, shares) = try ThresholdPaillier.deal(bits: 512, threshold: 2, parties: 3, using: SeededRandom(seed: 31))
        let random = SeededRandom(seed: 37)
        let publicKey = scheme.publicKey
        let values = (0..<10).map { _ in Self.value(random, magnitudeBits: 65) }
        let packing = PaillierPacking(publicKey: publicKey, slotBits: PaillierPacking.slotBits(magnitude: GMPInteger.powerOfTwo(65)))
        let packed = packing.pack(try values.map { try publicKey.encrypt($0, using: random) })
        #expect(packed.count == 2, "ten groups of 72-bit slots fit two 512-bit ciphertexts (seven slots each)")
        let plaintexts = try packed.map { ciphertext in
            try scheme.combine(try shares.prefix(2).map { try scheme.partialDecrypt(ciphertext, share: $0) }, for: ciphertext)
        }
        #expect(try packing.unpack(plaintexts, count: values.count) == values)
    }

    @Test func slotWidthsCoverTheMagnitudeAndTheSign() {
        #expect(PaillierPacking.slotBits(magnitude: GMPInteger(0)) == 16)
        #expect(PaillierPacking.slotBits(magnitude: GMPInteger.powerOfTwo(63) - GMPInteger(1)) == 64)
        #expect(PaillierPacking.slotBits(magnitude: GMPInteger.powerOfTwo(63)) == 72)
        #expect(PaillierPacking.slotBits(magnitude: GMPInteger.powerOfTwo(64).negated) == 72)
    }

    @Test func aWidthWithoutTwoSlotsOrOutOfRangePacksNothing() throws {
        let publicKey = key.publicKey
        let random = SeededRandom(seed: 41)
        for width in [0, 8, 15, (publicKey.bits - 3) / 2 + 1, 5_000, Int.max] {
            let packing = PaillierPacking(publicKey: publicKey, slotBits: width)
            #expect(packing.slotBits == 0 && packing.slots == 1, "width \(width)")
            let ciphertexts = try [5, -7, 11].map { try publicKey.encrypt($0, using: random) }
            #expect(packing.pack(ciphertexts) == ciphertexts)
            let plain: [GMPInteger] = [GMPInteger(5), GMPInteger(-7), GMPInteger(11)]
            #expect(try packing.unpack(plain, count: 3) == plain)
        }
    }

    @Test func plaintextsThatDoNotFitTheirSlotsAreErrors() throws {
        let packing = PaillierPacking(publicKey: key.publicKey, slotBits: 64)
        #expect(throws: CryptoError.self) { try packing.unpack([GMPInteger(-1)], count: 2) }
        #expect(throws: CryptoError.self) { try packing.unpack([GMPInteger.powerOfTwo(64 * packing.slots)], count: 2) }
        #expect(throws: CryptoError.self) { try packing.unpack([GMPInteger(1), GMPInteger(1)], count: 2) }
    }
}
