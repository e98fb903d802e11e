import GatewayCrypto

/// The one byte encoding that is hashed and signed: big-endian integers, length-prefixed byte strings and lists.
/// It never depends on dictionary order or on a serializer's formatting choices.
public struct CanonicalWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func write(_ value: UInt8) { bytes.append(value) }

    public mutating func write(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    public mutating func write(_ value: Int64) { write(UInt64(bitPattern: value)) }

    public mutating func write(_ value: [UInt8]) {
        write(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func write(_ value: String) { write(Array(value.utf8)) }

    public mutating func write(_ values: [[UInt8]]) {
        write(UInt64(values.count))
        for value in values { write(value) }
    }

    public mutating func write(_ values: [String]) {
        write(UInt64(values.count))
        for value in values { write(value) }
    }
}

/// Reads what `CanonicalWriter` wrote; every read is bounds-checked and every length is capped.
public struct CanonicalReader: Sendable {
    let bytes: [UInt8]
    var offset = 0
    /// Upper bound on any single length prefix, so a corrupt prefix cannot ask for gigabytes.
    public static let lengthMax = 16 * 1024 * 1024

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var isAtEnd: Bool { offset == bytes.count }

    public mutating func readUInt8() throws -> UInt8 {
        guard offset < bytes.count else { throw ChainError(.malformed, "unexpected end of data") }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func readUInt64() throws -> UInt64 {
        guard bytes.count - offset >= 8 else { throw ChainError(.malformed, "unexpected end of data") }
        var value: UInt64 = 0
        for index in 0..<8 { value = value << 8 | UInt64(bytes[offset + index]) }
        offset += 8
        return value
    }

    public mutating func readInt64() throws -> Int64 { Int64(bitPattern: try readUInt64()) }

    /// A height, round or other quantity with a documented range (`Bounded`): a value outside it is malformed, so
    /// arithmetic on what was read cannot overflow.
    public mutating func readUInt64(within bound: Bounded) throws -> UInt64 {
        let value = try readUInt64()
        guard bound.contains(value) else { throw ChainError(.malformed, "\(bound.requirement) (read \(value))") }
        return value
    }

    public mutating func readBytes() throws -> [UInt8] {
        let length = try readUInt64()
        guard length <= UInt64(Self.lengthMax), UInt64(bytes.count - offset) >= length else {
            throw ChainError(.malformed, "length prefix \(length) exceeds the data")
        }
        defer { offset += Int(length) }
        return Array(bytes[offset..<offset + Int(length)])
    }

    public mutating func readString() throws -> String {
        let raw = try readBytes()
        guard let string = String(validating: raw, as: UTF8.self) else { throw ChainError(.malformed, "invalid UTF-8") }
        return string
    }

    public mutating func readByteList() throws -> [[UInt8]] {
        let count = try readUInt64()
        guard count <= UInt64(bytes.count - offset) else { throw ChainError(.malformed, "list count exceeds the data") }
        return try (0..<count).map { _ in try readBytes() }
    }

    public mutating func readStringList() throws -> [String] {
        let count = try readUInt64()
        guard count <= UInt64(bytes.count - offset) else { throw ChainError(.malformed, "list count exceeds the data") }
        return try (0..<count).map { _ in try readString() }
    }

    public func expectEnd() throws {
        guard isAtEnd else { throw ChainError(.malformed, "trailing bytes after the encoded value") }
    }
}
