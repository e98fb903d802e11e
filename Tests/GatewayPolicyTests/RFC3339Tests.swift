import Foundation
import GatewayCrypto
import GatewayPolicy
import Testing

/// Dates and times from outside are RFC 3339, strictly: impossible calendar dates are refused, never rolled over.
@Suite struct RFC3339Tests {
    @Test(arguments: [
        "2027-02-30", "2027-02-29", "2100-02-29", "1900-02-29", "2027-04-31", "2027-06-31", "2027-09-31", "2027-11-31", "2027-13-01",
        "2027-00-10", "2027-01-00", "2027-01-32", "2027-06-30T24:00:00Z", "2027-06-30T23:60:00Z", "2027-06-30T23:59:60Z",
        "2027-06-30T12:00:00+24:00", "2027-06-30T12:00:00+08:60",
    ])
    func impossibleDatesAreRefusedAsImpossible(text: String) {
        guard case .failure(.impossible) = RFC3339.parse(text) else {
            Issue.record("\(text) was not refused as impossible: \(RFC3339.parse(text))")
            return
        }
        #expect(GatewayPolicy.Obligations.instant(text) == nil)
    }

    @Test(arguments: [
        "", "2027-6-30", "2027-06-3", "27-06-30", "2027/06/30", "2027-06-30T12:00Z", "2027-06-30 12:00:00Z", "2027-06-30T12:00:00",
        "20270630", "2027-06-30T12:00:00+0800", "+2027-06-30", " 2027-06-30", "2027-06-30 ", "2027-06-30Z", "2027-06-30T12:00:00.Z",
        "2027-06-30T12:00:00.1234567890Z", "2027-06-30T1:00:00Z", "2027-W26-3", "2027-181", "２０２７-06-30", "2027-06-30T12:00:00Z\n",
        "2027-06-30\u{2028}",
    ])
    func anythingOutsideTheGrammarIsMalformed(text: String) {
        #expect(RFC3339.parse(text) == .failure(.malformed), "\(text)")
    }

    @Test func validInstantsHaveTheirUnixTime() {
        #expect(RFC3339.parse("1970-01-01") == .success(0))
        #expect(RFC3339.parse("2000-02-29") == .success(951_782_400_000))
        #expect(RFC3339.parse("2028-02-29T00:00:00Z") == .success(1_835_395_200_000))
        #expect(RFC3339.parse("2027-06-30T12:00:00.250+08:00") == .success(1_814_328_000_250))
        #expect(RFC3339.parse("2027-06-30t04:00:00.25z") == .success(1_814_328_000_250))
        #expect(RFC3339.parse("9999-12-31T23:59:59Z") == .success(Bounded.unixMilliseconds.range.upperBound - 999))
    }

    /// Seeded random real dates agree with Foundation's Gregorian calendar.
    @Test func randomRealDatesAgreeWithTheGregorianCalendar() throws {
        let seed: UInt64 = 3339
        print("RFC3339Tests seed \(seed)")
        var random = SplitMix64(seed: seed)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        for _ in 0..<3_000 {
            let year = 1970 + Int(random.next() % 8_000), month = 1 + Int(random.next() % 12), day = 1 + Int(random.next() % 31)
            let hour = Int(random.next() % 24), minute = Int(random.next() % 60), second = Int(random.next() % 60)
            let text = String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", year, month, day, hour, minute, second)
            let components = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
            let real = calendar.date(from: components).map { calendar.dateComponents([.year, .month, .day], from: $0) }
            let exists = real?.year == year && real?.month == month && real?.day == day
            switch RFC3339.parse(text) {
            case .success(let ms):
                #expect(exists, "seed \(seed): \(text) accepted")
                #expect(ms == Int64(calendar.date(from: components)!.timeIntervalSince1970) * 1_000, "seed \(seed): \(text)")
            case .failure(.impossible):
                #expect(!exists, "seed \(seed): \(text) refused")
            case .failure(.malformed):
                Issue.record("seed \(seed): \(text) called malformed")
            }
        }
    }
}
