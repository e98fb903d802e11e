/// An entity reference: `Type::"id"`, where Type may be namespaced (`Gov::Department`).
public struct EntityUID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let type: String
    public let id: String
    /// FNV-1a of type and id, computed once: hashing and most inequality checks then touch one word, not two
    /// strings (entity lookups dominate decision time otherwise). Dictionaries still seed their own hashing.
    let fingerprint: UInt64

    public init(type: String, id: String) {
        self.type = type
        self.id = id
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in type.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        hash = (hash ^ 0xff) &* 0x100_0000_01b3
        for byte in id.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        self.fingerprint = hash
    }

    /// Byte for byte, as Cedar compares: no Unicode canonical equivalence (`"é"` and `"e\u{301}"` are two ids).
    public static func == (lhs: EntityUID, rhs: EntityUID) -> Bool {
        lhs.fingerprint == rhs.fingerprint && lhs.type.utf8.elementsEqual(rhs.type.utf8) && lhs.id.utf8.elementsEqual(rhs.id.utf8)
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(fingerprint) }

    public var description: String { "\(type)::\"\(id)\"" }

    public static func < (lhs: EntityUID, rhs: EntityUID) -> Bool { (lhs.type, lhs.id) < (rhs.type, rhs.id) }
}

/// A Cedar value.
public enum Value: Sendable, Hashable, CustomStringConvertible {
    case bool(Bool)
    case long(Int64)
    case string(String)
    case entity(EntityUID)
    case set([Value])
    case record([String: Value])

    public var typeName: String {
        switch self {
        case .bool: return "Bool"
        case .long: return "Long"
        case .string: return "String"
        case .entity: return "Entity"
        case .set: return "Set"
        case .record: return "Record"
        }
    }

    public var description: String {
        switch self {
        case .bool(let b): return String(b)
        case .long(let l): return String(l)
        case .string(let s): return "\"\(s)\""
        case .entity(let e): return e.description
        case .set(let items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        case .record(let members):
            return "{" + members.keys.sorted().map { "\($0): \(members[$0]!)" }.joined(separator: ", ") + "}"
        }
    }

    /// Cedar equality: sets compare as sets, records by members; values of different types are unequal. Strings and
    /// record keys compare as Cedar compares them, scalar for scalar: Swift's `==` on strings would treat canonically
    /// equivalent ones (`"é"`, `"e\u{301}"`) as equal, and Cedar does not.
    static func equal(_ lhs: Value, _ rhs: Value) -> Bool {
        switch (lhs, rhs) {
        case (.string(let a), .string(let b)):
            return a.utf8.elementsEqual(b.utf8)
        case (.set(let a), .set(let b)):
            return a.allSatisfy { x in b.contains { equal(x, $0) } } && b.allSatisfy { y in a.contains { equal(y, $0) } }
        case (.record(let a), .record(let b)):
            return a.count == b.count && a.allSatisfy { key, value in member(b, key).map { equal(value, $0) } ?? false }
        default:
            return lhs == rhs
        }
    }

    /// A record's member by exact key (the dictionary finds canonically equivalent keys too; Cedar does not).
    static func member(_ members: [String: Value], _ key: String) -> Value? {
        guard let index = members.index(forKey: key), members[index].key.utf8.elementsEqual(key.utf8) else { return nil }
        return members[index].value
    }
}

/// An entity with attributes and parents, as the entity store holds it.
public struct Entity: Sendable {
    public let uid: EntityUID
    public var attributes: [String: Value]
    public var parents: [EntityUID]

    public init(uid: EntityUID, attributes: [String: Value] = [:], parents: [EntityUID] = []) {
        self.uid = uid
        self.attributes = attributes
        self.parents = parents
    }
}

/// The entities a decision may consult. `in` follows parents transitively.
public struct EntityStore: Sendable {
    public private(set) var entities: [EntityUID: Entity] = [:]

    public init(_ entities: [Entity] = []) {
        for entity in entities { self.entities[entity.uid] = entity }
    }

    public mutating func insert(_ entity: Entity) { entities[entity.uid] = entity }

    public subscript(uid: EntityUID) -> Entity? { entities[uid] }

    /// True if `descendant` is `ancestor` or reaches it through parents (cycle-safe, bounded by the store's size).
    public func isDescendant(_ descendant: EntityUID, of ancestor: EntityUID) -> Bool {
        if descendant == ancestor { return true }
        // Most checks are settled by the direct parents; only deeper ones pay for the search's bookkeeping.
        guard let direct = entities[descendant]?.parents, !direct.isEmpty else { return false }
        if direct.contains(ancestor) { return true }
        // Hierarchies are shallow and narrow: a list is cheaper than a set for what has been seen.
        var seen: [EntityUID] = [descendant]
        seen.append(contentsOf: direct)
        var frontier = direct
        while let next = frontier.popLast() {
            for parent in entities[next]?.parents ?? [] where !seen.contains(parent) {
                if parent == ancestor { return true }
                if seen.count > 64 { return deepSearch(from: seen, frontier: frontier + [parent], to: ancestor) }
                seen.append(parent)
                frontier.append(parent)
            }
        }
        return false
    }

    /// The same search with a hash set, once a hierarchy proves large.
    func deepSearch(from seenList: [EntityUID], frontier start: [EntityUID], to ancestor: EntityUID) -> Bool {
        var seen = Set(seenList)
        var frontier = start
        seen.formUnion(start)
        while let next = frontier.popLast() {
            for parent in entities[next]?.parents ?? [] where !seen.contains(parent) {
                if parent == ancestor { return true }
                seen.insert(parent)
                frontier.append(parent)
            }
        }
        return false
    }
}
