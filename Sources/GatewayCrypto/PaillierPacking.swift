/// Many small plaintexts in one Paillier ciphertext, so that decrypting k groups costs one decryption instead of k.
///
/// Slot j of a packed ciphertext holds (mⱼ + 2^(w−1)) · 2^(w·j): the ciphertexts are combined by Horner's rule,
/// P = ((C_{k−1} · g^o)^(2^w) · C_{k−2} · g^o)^(2^w) ⋯, with g^o = 1 + o·n the public encryption of the offset
/// o = 2^(w−1). A slot decodes exactly when its value lies in [−2^(w−1), 2^(w−1)); `slotBits(magnitude:)` picks w
/// from a bound on the values. At most ⌊(|n| − 3) / w⌋ slots go in one ciphertext, so the packed plaintext stays
/// below n/4 (inside the encoding range of `PaillierPublicKey.decode`).
///
/// Decrypting a packed ciphertext reveals a function of its slots' plaintexts and nothing else, so whoever decrypts
/// discloses exactly what decrypting each slot's ciphertext alone would. A slot width of 0, or one too wide for two
/// slots, leaves every ciphertext on its own.
public struct PaillierPacking: Sendable, Equatable {
    public let publicKey: PaillierPublicKey
    /// w; 0 when nothing is packed.
    public let slotBits: Int
    /// Slots in one ciphertext (1 when nothing is packed).
    public let slots: Int

    /// Slot widths this accepts (0 for none): bounded so that the work of packing stays small.
    public static let slotBitsRange = 16...4_096

    public init(publicKey: PaillierPublicKey, slotBits: Int) {
        self.publicKey = publicKey
        let fit = Self.slotBitsRange.contains(slotBits) ? (publicKey.bits - 3) / slotBits : 0
        self.slotBits = fit >= 2 ? slotBits : 0
        self.slots = fit >= 2 ? fit : 1
    }

    /// The narrowest slot (a multiple of 8 bits) for values of magnitude at most `magnitude`, with the sign.
    public static func slotBits(magnitude: GMPInteger) -> Int {
        let bits = max(magnitude.magnitude.bitWidth + 1, slotBitsRange.lowerBound)
        return (bits + 7) / 8 * 8
    }

    /// How many ciphertexts `count` values pack into.
    public func packedCount(_ count: Int) -> Int { (count + slots - 1) / slots }

    /// The ciphertexts packed in order: slot j of ciphertext i holds value i·slots + j.
    public func pack(_ ciphertexts: [PaillierCiphertext]) -> [PaillierCiphertext] {
        guard slotBits > 0 else { return ciphertexts }
        let nSquared = publicKey.nSquared
        let offset = (GMPInteger(1) + GMPInteger.powerOfTwo(slotBits - 1) * publicKey.n).modulo(nSquared)
        let shift = GMPInteger.powerOfTwo(slotBits)
        return stride(from: 0, to: ciphertexts.count, by: slots).map { start in
            let chunk = ciphertexts[start..<min(start + slots, ciphertexts.count)]
            var packed = GMPInteger(1)
            for ciphertext in chunk.reversed() {
                // The shift's exponent is public: the variable-time powm is safe.
                packed = packed.power(shift, modulo: nSquared).multiplied(by: ciphertext.value, modulo: nSquared)
                packed = packed.multiplied(by: offset, modulo: nSquared)
            }
            return PaillierCiphertext(value: packed)
        }
    }

    /// The `count` signed values from the decrypted packed plaintexts (as `PaillierPublicKey.decode` gives them).
    public func unpack(_ plaintexts: [GMPInteger], count: Int) throws -> [GMPInteger] {
        guard slotBits > 0 else {
            guard plaintexts.count == count else { throw CryptoError(.invalidCiphertext, "expected \(count) plaintexts, got \(plaintexts.count)") }
            return plaintexts
        }
        guard plaintexts.count == packedCount(count) else {
            throw CryptoError(.invalidCiphertext, "\(count) values pack into \(packedCount(count)) plaintexts, got \(plaintexts.count)")
        }
        let offset = GMPInteger.powerOfTwo(slotBits - 1)
        let slotSize = GMPInteger.powerOfTwo(slotBits)
        var values: [GMPInteger] = []
        values.reserveCapacity(count)
        for (index, plaintext) in plaintexts.enumerated() {
            guard plaintext.signum >= 0, plaintext.bitWidth <= slots * slotBits else {
                throw CryptoError(.overflow, "a packed plaintext exceeds its \(slots) slots of \(slotBits) bits")
            }
            var rest = plaintext
            for _ in 0..<min(slots, count - index * slots) {
                let (quotient, slot) = rest.quotientAndRemainder(dividingBy: slotSize)
                values.append(slot - offset)
                rest = quotient
            }
        }
        return values
    }
}
