/// The one way a number from outside — a header, a query or path parameter, a peer frame, a stored encoding, a file —
/// becomes an integer: ASCII decimal digits with an optional leading `-`, at most 20 characters, inside a documented
/// range. Every range here lies within ±2^62, so adding or subtracting two values of any of them cannot overflow
/// `Int64`: arithmetic on a parsed value never traps. A value outside its range is refused, never clamped.
public struct Bounded: Sendable, CustomStringConvertible {
    public let name: String
    public let range: ClosedRange<Int64>

    public init(_ name: String, _ range: ClosedRange<Int64>) {
        precondition(range.lowerBound >= -Self.magnitudeMax && range.upperBound <= Self.magnitudeMax, "a bound beyond ±2^62 could overflow")
        self.name = name
        self.range = range
    }

    /// No range reaches beyond ±2^62.
    public static let magnitudeMax: Int64 = 1 << 62
    /// Block heights and consensus rounds: 0 to 2^53 (exact as a JSON number in every client). At one block per
    /// millisecond that is 285,000 years.
    public static let heightMax: Int64 = 1 << 53
    public static let height = Bounded("height", 0...heightMax)
    public static let round = Bounded("round", 0...heightMax)
    /// Validator-set generations (each is a governance change, so far fewer than heights).
    public static let epoch = Bounded("epoch", 0...heightMax)
    /// Unix time in seconds, 1970-01-01 to 9999-12-31T23:59:59Z.
    public static let unixSeconds = Bounded("Unix time (seconds)", 0...253_402_300_799)
    /// Unix time in milliseconds over the same span.
    public static let unixMilliseconds = Bounded("Unix time (milliseconds)", 0...253_402_300_799_999)

    /// A TCP port (0 asks the system for a free one where a port is bound).
    public static let port = Bounded("port", 0...65_535)

    /// A count of items a caller asks for: 1 to `max`.
    public static func count(_ name: String, max: Int) -> Bounded { Bounded(name, 1...Int64(max)) }

    /// What a caller is told when a value is refused.
    public var requirement: String { "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)" }
    public var description: String { requirement }

    /// The value of `text`, or nil if it is not a plain decimal integer within the range (signs other than a leading
    /// `-`, spaces, `+`, leading zeros beyond one digit, and more than 20 characters are all refused).
    public func parse(_ text: some StringProtocol) -> Int64? {
        let utf8 = Array(text.utf8)
        guard !utf8.isEmpty, utf8.count <= 20 else { return nil }
        var index = 0
        let negative = utf8[0] == UInt8(ascii: "-")
        if negative { index = 1 }
        guard index < utf8.count else { return nil }
        // One leading zero only ("0", "-0" are fine; "007" is not a number anyone sends on purpose).
        if utf8[index] == UInt8(ascii: "0"), utf8.count - index > 1 { return nil }
        var magnitude: Int64 = 0
        for byte in utf8[index...] {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            // Stop before the magnitude could leave ±2^62 (every range lies inside it).
            guard magnitude <= (Self.magnitudeMax - 9) / 10 else { return nil }
            magnitude = magnitude * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        let value = negative ? -magnitude : magnitude
        return range.contains(value) ? value : nil
    }

    /// `parse` for an unsigned quantity (heights, rounds).
    public func parseUnsigned(_ text: some StringProtocol) -> UInt64? {
        parse(text).flatMap { $0 >= 0 ? UInt64($0) : nil }
    }

    /// Whether a value decoded from binary (a peer frame, a stored block) is within the range.
    public func contains(_ value: UInt64) -> Bool {
        value <= UInt64(Self.magnitudeMax) && range.contains(Int64(value))
    }

    public func contains(_ value: Int64) -> Bool { range.contains(value) }
}
