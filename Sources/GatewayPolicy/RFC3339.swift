/// Dates and times from outside, read strictly as RFC 3339 (section 5.6) and nothing else: a `full-date`
/// (`2027-06-30`, midnight UTC) or a `date-time` (`2027-06-30T12:00:00Z`, `…T12:00:00.250+08:00`). No Foundation
/// formatter: those roll impossible dates over (`2027-02-30` became 2 March) and accept forms RFC 3339 does not.
///
/// Refused as malformed: anything but exactly that grammar (no week dates, no missing seconds, no spaces, no `+24:00`).
/// Refused as impossible: a month outside 1–12, a day the month does not have (leap years as the Gregorian calendar
/// says), an hour past 23, a minute or second past 59 (leap seconds are not accepted: no clock here keeps them).
public enum RFC3339 {
    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        /// Not in RFC 3339's grammar.
        case malformed
        /// In the grammar, but no such day or time exists.
        case impossible(String)

        public var description: String {
            switch self {
            case .malformed: return "not an RFC 3339 date (2027-06-30) or date-time (2027-06-30T12:00:00Z)"
            case .impossible(let why): return why
            }
        }
    }

    /// Unix milliseconds of the instant, or why the text is not one.
    public static func parse(_ text: String) -> Result<Int64, Failure> {
        let bytes = Array(text.utf8)
        guard bytes.count == 10 || bytes.count >= 20, bytes.count <= 40 else { return .failure(.malformed) }
        var index = 0
        func digits(_ count: Int) -> Int? {
            guard index + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[index..<index + count] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            index += count
            return value
        }
        func expect(_ characters: String) -> Bool {
            guard index < bytes.count, characters.utf8.contains(bytes[index]) else { return false }
            index += 1
            return true
        }
        guard let year = digits(4), expect("-"), let month = digits(2), expect("-"), let day = digits(2) else { return .failure(.malformed) }
        var hour = 0, minute = 0, second = 0, millisecond = 0, offsetMinutes = 0
        if index < bytes.count {
            guard expect("Tt"), let h = digits(2), expect(":"), let m = digits(2), expect(":"), let s = digits(2) else { return .failure(.malformed) }
            (hour, minute, second) = (h, m, s)
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                let start = index
                var fraction = 0
                while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                    if index - start < 3 { fraction = fraction * 10 + Int(bytes[index] - UInt8(ascii: "0")) }
                    index += 1
                }
                let count = index - start
                guard (1...9).contains(count) else { return .failure(.malformed) }
                for _ in count..<3 { fraction *= 10 }
                millisecond = fraction
            }
            if expect("Zz") {
                offsetMinutes = 0
            } else if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
                index += 1
                guard let oh = digits(2), expect(":"), let om = digits(2) else { return .failure(.malformed) }
                guard oh <= 23, om <= 59 else { return .failure(.impossible("offset \(oh):\(om) is not a time zone offset")) }
                offsetMinutes = sign * (oh * 60 + om)
            } else {
                return .failure(.malformed)
            }
            guard index == bytes.count else { return .failure(.malformed) }
        }
        guard (1...12).contains(month) else { return .failure(.impossible("month \(month) does not exist")) }
        guard (1...daysIn(month: month, year: year)).contains(day) else {
            return .failure(.impossible(String(format4(year)) + "-" + two(month) + " has no day \(day)"))
        }
        guard hour <= 23 else { return .failure(.impossible("hour \(hour) does not exist")) }
        guard minute <= 59 else { return .failure(.impossible("minute \(minute) does not exist")) }
        guard second <= 59 else { return .failure(.impossible("second \(second) is not accepted (no leap seconds)")) }
        let days = Int64(daysFromCivil(year: year, month: month, day: day))
        let seconds = days * 86_400 + Int64(hour * 3_600 + minute * 60 + second) - Int64(offsetMinutes * 60)
        return .success(seconds * 1_000 + Int64(millisecond))
    }

    static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
    static func format4(_ value: Int) -> String { String(repeating: "0", count: max(0, 4 - String(value).count)) + String(value) }
}
