/// Signed fixed-point numbers for Paillier, compatible with python-paillier's `EncodedNumber`:
/// value = mantissa · 16^exponent. Each field uses one fixed exponent, so the exponent reveals nothing about the
/// value (phe by default picks it per value). The mantissa must lie in the key's band |m| ≤ ⌊n/3⌋ − 1; outside it
/// encoding fails, and a sum that leaves the band fails to decode — an error, never a wrong answer.
public struct FixedPointEncoding: Sendable, Equatable {
    public static let base = 16
    /// ≤ 0: the number of base-16 fractional digits kept is −exponent.
    public let exponent: Int

    public init(exponent: Int) {
        precondition(exponent <= 0 && exponent >= -64, "exponent must be in -64...0")
        self.exponent = exponent
    }

    /// Encodes an integer exactly.
    public func mantissa(_ value: Int, for key: PaillierPublicKey) throws -> GMPInteger {
        try check(GMPInteger(value) * GMPInteger.power(16, UInt(-exponent)), key)
    }

    /// Encodes a finite Double: mantissa = round(value · 16^−exponent), exact rational arithmetic, ties to even
    /// (as Python's `round` on a Fraction, which phe uses).
    public func mantissa(_ value: Double, for key: PaillierPublicKey) throws -> GMPInteger {
        guard value.isFinite else { throw CryptoError(.overflow, "cannot encode a non-finite number") }
        if value == 0 { return GMPInteger(0) }
        // value = significand · 2^e exactly, with an integer significand.
        let significandBits = Double.significandBitCount
        let e = Int(value.exponent) - significandBits
        let significand = GMPInteger(UInt(value.significandBitPattern | (value.isNormal ? 1 << UInt64(significandBits) : 0)))
        // scaled = significand · 2^(e + 4·(−exponent)), rounded half to even.
        let shift = e + 4 * -exponent
        var result: GMPInteger
        if shift >= 0 {
            result = significand * GMPInteger.powerOfTwo(shift)
        } else {
            let divisor = GMPInteger.powerOfTwo(-shift)
            let (q, r) = significand.quotientAndRemainder(dividingBy: divisor)
            let twice = r * GMPInteger(2)
            result = q
            if twice > divisor || (twice == divisor && q.isOdd) { result = q + GMPInteger(1) }
        }
        if value < 0 { result = result.negated }
        return try check(result, key)
    }

    /// The value of a decrypted mantissa.
    public func decode(_ mantissa: GMPInteger) -> Double {
        let scale = Double(sign: .plus, exponent: 4 * exponent, significand: 1)
        // Double(String) rounds correctly; the product by a power of two is exact unless it underflows.
        return (Double(mantissa.toString()) ?? .nan) * scale
    }

    func check(_ mantissa: GMPInteger, _ key: PaillierPublicKey) throws -> GMPInteger {
        guard mantissa.magnitude <= key.maxPlaintext else {
            throw CryptoError(.overflow, "value does not fit the encoding range of this key at exponent \(exponent)")
        }
        return mantissa
    }
}
