/// An entity reference: `Type::"id"`, where Type may be namespaced (`Gov::Department`).
public struct EntityUID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let type: String
    public let id: String

    public init(type: String, id: String) {
        self.type = type
        self.id = id
    }

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

    /// Cedar equality: sets compare as sets, records by members; values of different types are unequal.
    static func equal(_ lhs: Value, _ rhs: Value) -> Bool {
        switch (lhs, rhs) {
        case (.set(let a), .set(let b)):
            return a.allSatisfy { x in b.contains { equal(x, $0) } } && b.allSatisfy { y in a.contains { equal(y, $0) } }
        case (.record(let a), .record(let b)):
            return a.count == b.count && a.allSatisfy { key, value in b[key].map { equal(value, $0) } ?? false }
        default:
            return lhs == rhs
        }
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
        var seen: Set<EntityUID> = [descendant]
        var frontier = [descendant]
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
