import CGMP
#if canImport(Glibc)
    import Glibc
#endif

/// An arbitrary-precision non-negative-or-signed integer over GMP's `mpz_t`, with value semantics.
/// The `mpz` lives in a private class that frees it in `deinit`. GMP allocates through functions that clear every
/// block before freeing it (`dg_gmp_clear_freed_memory`), so neither values nor GMP's own temporaries leave a secret
/// behind in freed memory.
public struct GMPInteger: Sendable {
    /// Installs the clearing allocator once, before the first integer exists.
    static let clearsFreedMemory: Void = dg_gmp_clear_freed_memory()

    final class Storage: @unchecked Sendable {
        // Safety: a Storage is never mutated after it has been shared; `mutate` copies first unless uniquely referenced.
        let value: UnsafeMutablePointer<__mpz_struct>

        init() {
            GMPInteger.clearsFreedMemory
            value = .allocate(capacity: 1)
            __gmpz_init(value)
        }

        deinit {
            __gmpz_clear(value)
            value.deallocate()
        }
    }

    let storage: Storage

    init(storage: Storage) { self.storage = storage }

    public init() { storage = Storage() }

    public init(_ value: Int) {
        storage = Storage()
        __gmpz_set_si(storage.value, value)
    }

    public init(_ value: UInt) {
        storage = Storage()
        __gmpz_set_ui(storage.value, value)
    }

    /// Parses a base-10 (or other base) string; nil if it is not a valid integer.
    public init?(_ text: String, radix: Int32 = 10) {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 != 0x20 }) else { return nil }
        storage = Storage()
        let result = text.withCString { __gmpz_set_str(storage.value, $0, radix) }
        if result != 0 { return nil }
    }

    /// Big-endian unsigned bytes.
    public init(bigEndian bytes: [UInt8]) {
        storage = Storage()
        guard !bytes.isEmpty else { return }
        bytes.withUnsafeBytes { raw in
            __gmpz_import(storage.value, bytes.count, 1, 1, 1, 0, raw.baseAddress)
        }
    }

    /// Big-endian unsigned bytes of the absolute value (empty for zero).
    public var bigEndianBytes: [UInt8] {
        let count = (bitWidth + 7) / 8
        guard count > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: count)
        var written = 0
        out.withUnsafeMutableBytes { raw in
            _ = __gmpz_export(raw.baseAddress, &written, 1, 1, 1, 0, storage.value)
        }
        return Array(out.prefix(written))
    }

    /// Fixed-width big-endian encoding, left-padded with zeros. Precondition: the value fits.
    public func bigEndianBytes(width: Int) -> [UInt8] {
        let bytes = bigEndianBytes
        precondition(bytes.count <= width, "integer does not fit in \(width) bytes")
        return [UInt8](repeating: 0, count: width - bytes.count) + bytes
    }

    public func toString(radix: Int32 = 10) -> String {
        let size = __gmpz_sizeinbase(storage.value, radix) + 2
        var buffer = [CChar](repeating: 0, count: size)
        __gmpz_get_str(&buffer, radix, storage.value)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Number of significant bits of the absolute value (0 for zero).
    public var bitWidth: Int {
        signum == 0 ? 0 : __gmpz_sizeinbase(storage.value, 2)
    }

    public var signum: Int { Int(storage.value.pointee._mp_size.signum()) }
    public var isZero: Bool { storage.value.pointee._mp_size == 0 }
    public var isOdd: Bool { __gmpz_tstbit(storage.value, 0) == 1 }

    /// The value as an Int if it fits.
    public var intValue: Int? {
        __gmpz_fits_slong_p(storage.value) != 0 ? __gmpz_get_si(storage.value) : nil
    }

    // MARK: Arithmetic (each returns a fresh value)

    @inline(__always)
    static func make(_ body: (UnsafeMutablePointer<__mpz_struct>) -> Void) -> GMPInteger {
        let result = Storage()
        body(result.value)
        return GMPInteger(storage: result)
    }

    public static func + (lhs: GMPInteger, rhs: GMPInteger) -> GMPInteger {
        make { __gmpz_add($0, lhs.storage.value, rhs.storage.value) }
    }

    public static func - (lhs: GMPInteger, rhs: GMPInteger) -> GMPInteger {
        make { __gmpz_sub($0, lhs.storage.value, rhs.storage.value) }
    }

    public static func * (lhs: GMPInteger, rhs: GMPInteger) -> GMPInteger {
        make { __gmpz_mul($0, lhs.storage.value, rhs.storage.value) }
    }

    /// Floor division.
    public static func / (lhs: GMPInteger, rhs: GMPInteger) -> GMPInteger {
        precondition(!rhs.isZero, "division by zero")
        return make { __gmpz_fdiv_q($0, lhs.storage.value, rhs.storage.value) }
    }

    /// Non-negative residue modulo `modulus`.
    public func modulo(_ modulus: GMPInteger) -> GMPInteger {
        precondition(!modulus.isZero, "modulus is zero")
        return Self.make { __gmpz_mod($0, storage.value, modulus.storage.value) }
    }

    /// (self · other) mod modulus.
    public func multiplied(by other: GMPInteger, modulo modulus: GMPInteger) -> GMPInteger {
        Self.make { result in
            __gmpz_mul(result, storage.value, other.storage.value)
            __gmpz_mod(result, result, modulus.storage.value)
        }
    }

    /// self^exponent mod modulus, for public exponents.
    public func power(_ exponent: GMPInteger, modulo modulus: GMPInteger) -> GMPInteger {
        Self.make { __gmpz_powm($0, storage.value, exponent.storage.value, modulus.storage.value) }
    }

    /// self^exponent mod modulus in time independent of the exponent's bits (`mpz_powm_sec`; odd modulus only).
    public func powerSecret(_ exponent: GMPInteger, modulo modulus: GMPInteger) -> GMPInteger {
        precondition(modulus.isOdd, "mpz_powm_sec needs an odd modulus")
        precondition(exponent.signum > 0, "mpz_powm_sec needs a positive exponent")
        return Self.make { __gmpz_powm_sec($0, storage.value, exponent.storage.value, modulus.storage.value) }
    }

    /// Modular inverse, or nil if none exists.
    public func inverse(modulo modulus: GMPInteger) -> GMPInteger? {
        var ok: Int32 = 0
        let result = Self.make { ok = __gmpz_invert($0, storage.value, modulus.storage.value) }
        return ok == 0 ? nil : result
    }

    /// A copy with bit `index` set.
    public func settingBit(_ index: Int) -> GMPInteger {
        Self.make { result in
            __gmpz_set(result, storage.value)
            __gmpz_setbit(result, mp_bitcnt_t(index))
        }
    }

    public func gcd(_ other: GMPInteger) -> GMPInteger {
        Self.make { __gmpz_gcd($0, storage.value, other.storage.value) }
    }

    public func lcm(_ other: GMPInteger) -> GMPInteger {
        Self.make { __gmpz_lcm($0, storage.value, other.storage.value) }
    }

    /// The smallest prime greater than self (probabilistic, GMP's BPSW-based `mpz_nextprime`).
    public func nextPrime() -> GMPInteger {
        Self.make { __gmpz_nextprime($0, storage.value) }
    }

    /// Probable-primality test with `rounds` Miller–Rabin rounds after GMP's trial division and BPSW.
    public func isProbablePrime(rounds: Int32 = 30) -> Bool {
        __gmpz_probab_prime_p(storage.value, rounds) > 0
    }

    /// A uniformly random integer in [0, bound) from `random`.
    public static func random(below bound: GMPInteger, using random: some RandomSource) -> GMPInteger {
        precondition(bound.signum > 0)
        let bits = bound.bitWidth
        let byteCount = (bits + 7) / 8
        let excess = byteCount * 8 - bits
        while true {
            var bytes = random.bytes(count: byteCount)
            bytes[0] &= UInt8(0xff >> excess)
            let candidate = GMPInteger(bigEndian: bytes)
            secureZero(&bytes)
            if candidate < bound { return candidate }
        }
    }

    /// A random integer of exactly `bits` bits (top bit set).
    public static func random(bits: Int, using random: some RandomSource) -> GMPInteger {
        precondition(bits >= 2)
        let byteCount = (bits + 7) / 8
        var bytes = random.bytes(count: byteCount)
        let excess = byteCount * 8 - bits
        bytes[0] &= UInt8(0xff >> excess)
        bytes[0] |= UInt8(0x80 >> excess)
        defer { secureZero(&bytes) }
        return GMPInteger(bigEndian: bytes)
    }
}

extension GMPInteger {
    /// Whether products modulo an odd modulus can use GMP's Montgomery reduction (see `product(of:modulo:)`).
    package static let montgomeryAvailable = dg_gmp_montgomery_available() != 0

    /// ∏ values mod `modulus` for public operands: by Montgomery reduction when the modulus is odd and GMP exports its
    /// REDC (about 15 % faster at 4,096 bits), else by multiply-and-divide. Values are non-negative and below 2^64·limbs
    /// of the modulus; any other value sends the whole product the ordinary way.
    package static func product(of values: ArraySlice<GMPInteger>, modulo modulus: GMPInteger) -> GMPInteger {
        if values.count >= 8 {
            let pointers: [mpz_srcptr?] = values.map { UnsafePointer($0.storage.value) }
            let result = GMPInteger()
            let done = pointers.withUnsafeBufferPointer { buffer in
                withExtendedLifetime(values) {
                    dg_gmp_product_modulo(result.storage.value, buffer.baseAddress, buffer.count, modulus.storage.value)
                }
            }
            if done != 0 { return result }
        }
        let accumulator = MPZAccumulator(GMPInteger(1))
        for value in values { accumulator.multiply(by: value, modulo: modulus) }
        return accumulator.result
    }
}

/// A mutable GMP integer for hot loops: multiplies in place, so a product of many factors allocates once.
/// Not shared across threads; each loop owns its accumulator.
final class MPZAccumulator {
    let value: UnsafeMutablePointer<__mpz_struct>
    /// The unreduced product: a separate buffer, so that GMP multiplies without an aliasing temporary each time.
    let product: UnsafeMutablePointer<__mpz_struct>

    init(_ initial: GMPInteger) {
        GMPInteger.clearsFreedMemory
        value = .allocate(capacity: 1)
        __gmpz_init_set(value, initial.storage.value)
        product = .allocate(capacity: 1)
        __gmpz_init(product)
    }

    deinit {
        __gmpz_clear(value)
        value.deallocate()
        __gmpz_clear(product)
        product.deallocate()
    }

    /// self = self · factor mod modulus.
    func multiply(by factor: GMPInteger, modulo modulus: GMPInteger) {
        __gmpz_mul(product, value, factor.storage.value)
        __gmpz_tdiv_r(value, product, modulus.storage.value)
        if value.pointee._mp_size < 0 { __gmpz_add(value, value, modulus.storage.value) }
    }

    var result: GMPInteger {
        let out = GMPInteger.Storage()
        __gmpz_set(out.value, value)
        return GMPInteger(storage: out)
    }
}

extension GMPInteger {
    /// 2^exponent.
    public static func powerOfTwo(_ exponent: Int) -> GMPInteger {
        make { __gmpz_ui_pow_ui($0, 2, UInt(exponent)) }
    }

    /// base^exponent for small non-negative exponents.
    public static func power(_ base: UInt, _ exponent: UInt) -> GMPInteger {
        make { __gmpz_ui_pow_ui($0, base, exponent) }
    }

    /// Bits [offset, offset + count) of the absolute value, as a small integer (count ≤ 32).
    func bits(at offset: Int, count: Int) -> Int {
        var out = 0
        for bit in 0..<count where __gmpz_tstbit(storage.value, mp_bitcnt_t(offset + bit)) == 1 { out |= 1 << bit }
        return out
    }

    /// Truncated division towards zero, with remainder.
    public func quotientAndRemainder(dividingBy divisor: GMPInteger) -> (quotient: GMPInteger, remainder: GMPInteger) {
        let q = Storage()
        let r = Storage()
        __gmpz_tdiv_qr(q.value, r.value, storage.value, divisor.storage.value)
        return (GMPInteger(storage: q), GMPInteger(storage: r))
    }

    public var negated: GMPInteger { Self.make { __gmpz_neg($0, storage.value) } }
    public var magnitude: GMPInteger { Self.make { __gmpz_abs($0, storage.value) } }
}

extension GMPInteger: Comparable, Hashable, CustomStringConvertible {
    public static func == (lhs: GMPInteger, rhs: GMPInteger) -> Bool {
        __gmpz_cmp(lhs.storage.value, rhs.storage.value) == 0
    }

    public static func < (lhs: GMPInteger, rhs: GMPInteger) -> Bool {
        __gmpz_cmp(lhs.storage.value, rhs.storage.value) < 0
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(bigEndianBytes)
        hasher.combine(signum)
    }

    public var description: String { toString() }
}

extension GMPInteger: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int) { self.init(value) }
}
