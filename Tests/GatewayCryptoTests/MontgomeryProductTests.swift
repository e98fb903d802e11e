import Foundation
import GatewayTestSupport
import Testing

@testable import GatewayCrypto

/// Products by Montgomery reduction equal products by multiply-and-divide, for any count, any values below the
/// modulus's limb size (zero, one, values above the modulus) and any modulus (an even one goes the ordinary way).
@Suite struct MontgomeryProductTests {
    static func ordinary(_ values: [GMPInteger], _ modulus: GMPInteger) -> GMPInteger {
        values.reduce(GMPInteger(1).modulo(modulus)) { $0.multiplied(by: $1, modulo: modulus) }
    }

    @Test func montgomeryProductsEqualOrdinaryOnes() {
        #expect(GMPInteger.montgomeryAvailable, "Debian 12's libgmp exports mpn_redc_n; without it sums are 15 % slower")
        let seed: UInt64 = 2_026_112_7
        print("MontgomeryProductTests seed \(seed)")
        let random = SeededRandom(seed: seed)
        for bits in [64, 65, 512, 1_000, 4_096] {
            let modulus = GMPInteger.random(bits: bits, using: random).settingBit(0)
            let limbBound = GMPInteger.powerOfTwo((bits + 63) / 64 * 64)
            for count in [8, 9, 100, 1_001] {
                let values = (0..<count).map { index -> GMPInteger in
                    switch random.next() % 8 {
                    case 0: return GMPInteger(1)
                    case 1: return modulus + GMPInteger(Int(random.next() % 1_000))  // above the modulus, within its limbs
                    case 2: return limbBound - GMPInteger(1)
                    default: return GMPInteger.random(below: modulus, using: random)
                    }
                }
                #expect(GMPInteger.product(of: values[...], modulo: modulus) == Self.ordinary(values, modulus), "\(bits) bits, \(count) values")
                var withZero = values
                withZero[count / 2] = GMPInteger(0)
                #expect(GMPInteger.product(of: withZero[...], modulo: modulus) == GMPInteger(0))
            }
        }
    }

    @Test func valuesItCannotTakeGoTheOrdinaryWay() {
        let random = SeededRandom(seed: 43)
        let odd = GMPInteger.random(bits: 256, using: random).settingBit(0)
        let even = odd + GMPInteger(1)
        let values = (0..<20).map { _ in GMPInteger.random(below: odd, using: random) }
        #expect(GMPInteger.product(of: values[...], modulo: even) == Self.ordinary(values, even))
        // A negative value or one wider than the modulus's limbs.
        for odd1 in [GMPInteger(-5), GMPInteger.powerOfTwo(320) + GMPInteger(3)] {
            var mixed = values
            mixed[3] = odd1
            #expect(GMPInteger.product(of: mixed[...], modulo: odd) == Self.ordinary(mixed, odd))
        }
        #expect(GMPInteger.product(of: values.prefix(3), modulo: odd) == Self.ordinary(Array(values.prefix(3)), odd))
    }
}
