import GatewayCrypto
import Testing

/// The one parser for numbers from outside: plain decimals inside a documented range, nothing else, and never a trap.
@Suite struct BoundedTests {
    @Test func acceptsPlainDecimalsInsideTheRange() {
        #expect(Bounded.height.parse("0") == 0)
        #expect(Bounded.height.parse("9007199254740992") == 9_007_199_254_740_992)
        #expect(Bounded.unixSeconds.parse("1700000000") == 1_700_000_000)
        #expect(Bounded("offset", -5...5).parse("-5") == -5)
        #expect(Bounded("offset", -5...5).parse("-0") == 0)
        #expect(Bounded.count("limit", max: 256).parse("256") == 256)
    }

    /// The class of input that trapped a node: values at and beyond the limits of Int64 and UInt64, and values just
    /// outside each documented range. Every one is refused, none traps.
    @Test(arguments: [
        "-9223372036854775000", "-9223372036854775808", "-9223372036854775809", "9223372036854775807", "9223372036854775808",
        "18446744073709551615", "18446744073709551616", "99999999999999999999", "999999999999999999999999999999",
        "9007199254740993", "-1", "4611686018427387904", "-4611686018427387904",
    ])
    func refusesWhatIsOutsideTheRangeWithoutTrapping(text: String) {
        #expect(Bounded.height.parse(text) == nil)
        #expect(Bounded.height.parseUnsigned(text) == nil)
        #expect(Bounded.round.parse(text) == nil)
        #expect(Bounded.unixSeconds.parse(text) == nil)
    }

    @Test(arguments: [
        "", "-", "+1", " 1", "1 ", "1_000", "0x10", "1e3", "1.0", "007", "--1", "١٢٣", "１２３", "NaN", "Infinity", "1\u{0}",
        String(repeating: "1", count: 10_000),
    ])
    func refusesWhatIsNotAPlainDecimal(text: String) {
        #expect(Bounded("any", -Bounded.magnitudeMax...Bounded.magnitudeMax).parse(text) == nil)
    }

    @Test func binaryValuesAreCheckedAgainstTheRange() {
        #expect(Bounded.height.contains(UInt64(1) << 53))
        #expect(!Bounded.height.contains((UInt64(1) << 53) + 1))
        #expect(!Bounded.height.contains(UInt64.max))
        #expect(!Bounded.round.contains(UInt64(Int64.max) + 1))
    }

    @Test func aRefusalSaysTheRange() {
        #expect(Bounded.count("limit", max: 1_000).requirement == "limit must be an integer from 1 to 1000")
    }

    /// Seeded random strings over the characters numbers are made of: parse agrees with a plain reading whenever
    /// the reading is a plain decimal in range, and never traps.
    @Test func randomNumericStringsAgreeWithAPlainReading() {
        let seed: UInt64 = 20261127
        print("BoundedTests seed \(seed)")
        var random = SplitMix64(seed: seed)
        let alphabet = Array("0123456789-+ e.")
        let bound = Bounded("test", -1_000_000...1_000_000)
        for _ in 0..<20_000 {
            let length = Int(random.next() % 24)
            let text = String((0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
            let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
            let plain = text.first != "+" && !(digits.count > 1 && digits.hasPrefix("0")) ? Int64(text) : nil
            let expected = plain.flatMap { bound.range.contains($0) ? $0 : nil }
            #expect(bound.parse(text) == expected, "seed \(seed): \(text)")
        }
    }
}
