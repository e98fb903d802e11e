import Foundation

/// A Cedar schema in Cedar's JSON schema format (the subset the policy language uses): entity types with their
/// parents' types and attributes, actions with their groups and the principal, resource and context they apply to.
/// Namespaces other than the empty one and common types are outside the subset and refused at load.
public struct CedarSchema: Sendable {
    public indirect enum AttributeType: Sendable, Equatable, CustomStringConvertible {
        case bool, long, string
        case entity(String)
        case set(AttributeType)
        case record([String: Attribute])

        public var description: String {
            switch self {
            case .bool: return "Bool"
            case .long: return "Long"
            case .string: return "String"
            case .entity(let name): return name
            case .set(let element): return "Set<\(element)>"
            case .record: return "Record"
            }
        }
    }

    public struct Attribute: Sendable, Equatable {
        public let type: AttributeType
        public let required: Bool
    }

    public struct EntityType: Sendable {
        public let memberOfTypes: [String]
        public let attributes: [String: Attribute]
    }

    public struct Action: Sendable {
        public let memberOf: [String]
        public let principalTypes: [String]
        public let resourceTypes: [String]
        public let context: [String: Attribute]
        /// False for action groups that only collect other actions (no `appliesTo`).
        public let applies: Bool
    }

    public let entityTypes: [String: EntityType]
    public let actions: [String: Action]

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { message }
    }

    public init(json data: Data, file: String) throws {
        func fail(_ message: String) -> Failure { Failure(message: "\(file): \(message)") }
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw fail("not a Cedar JSON schema (a JSON object keyed by namespace)")
        }
        guard root.keys.allSatisfy({ $0.isEmpty }), let namespace = root[""] as? [String: Any] else {
            throw fail("only the empty namespace (\"\") is supported; found \(root.keys.sorted())")
        }
        if namespace["commonTypes"] != nil { throw fail("commonTypes are outside the supported subset") }
        var entityTypes: [String: EntityType] = [:]
        for (name, value) in namespace["entityTypes"] as? [String: Any] ?? [:] {
            guard let definition = value as? [String: Any] else { throw fail("entityTypes.\(name) must be an object") }
            for key in definition.keys.sorted() where !["memberOfTypes", "shape", "annotations"].contains(key) {
                throw fail("entityTypes.\(name).\(key) is outside the supported subset (entity tags, enumerated types, …)")
            }
            let shape = try definition["shape"].map { try Self.recordAttributes($0, at: "entityTypes.\(name).shape", file: file) } ?? [:]
            entityTypes[name] = EntityType(memberOfTypes: definition["memberOfTypes"] as? [String] ?? [], attributes: shape)
        }
        var actions: [String: Action] = [:]
        for (name, value) in namespace["actions"] as? [String: Any] ?? [:] {
            guard let definition = value as? [String: Any] else { throw fail("actions.\(name) must be an object") }
            for key in definition.keys.sorted() where !["memberOf", "appliesTo", "annotations"].contains(key) {
                throw fail("actions.\(name).\(key) is outside the supported subset")
            }
            let memberOf = (definition["memberOf"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            let appliesTo = definition["appliesTo"] as? [String: Any]
            let context = try appliesTo?["context"].map { try Self.recordAttributes($0, at: "actions.\(name).appliesTo.context", file: file) } ?? [:]
            actions[name] = Action(
                memberOf: memberOf, principalTypes: appliesTo?["principalTypes"] as? [String] ?? [],
                resourceTypes: appliesTo?["resourceTypes"] as? [String] ?? [], context: context, applies: appliesTo != nil
            )
        }
        for (name, type) in entityTypes {
            for parent in type.memberOfTypes where entityTypes[parent] == nil {
                throw fail("entityTypes.\(name).memberOfTypes names undeclared entity type \(parent)")
            }
        }
        for (name, action) in actions {
            for type in action.principalTypes + action.resourceTypes where entityTypes[type] == nil {
                throw fail("actions.\(name).appliesTo names undeclared entity type \(type)")
            }
            for group in action.memberOf where actions[group] == nil { throw fail("actions.\(name).memberOf names undeclared action \(group)") }
        }
        self.entityTypes = entityTypes
        self.actions = actions
    }

    static func recordAttributes(_ json: Any, at path: String, file: String) throws -> [String: Attribute] {
        guard case .record(let attributes) = try attributeType(json, at: path, file: file) else {
            throw Failure(message: "\(file): \(path) must be a Record type")
        }
        return attributes
    }

    static func attributeType(_ json: Any, at path: String, file: String) throws -> AttributeType {
        func fail(_ message: String) -> Failure { Failure(message: "\(file): \(path): \(message)") }
        guard let object = json as? [String: Any], let type = object["type"] as? String else { throw fail("a type needs \"type\"") }
        switch type {
        case "Boolean", "Bool": return .bool
        case "Long": return .long
        case "String": return .string
        case "Entity":
            guard let name = object["name"] as? String else { throw fail("an Entity type needs \"name\"") }
            return .entity(name)
        case "Set":
            guard let element = object["element"] else { throw fail("a Set type needs \"element\"") }
            return .set(try attributeType(element, at: path + ".element", file: file))
        case "Record":
            var attributes: [String: Attribute] = [:]
            for (name, value) in object["attributes"] as? [String: Any] ?? [:] {
                let required = (value as? [String: Any])?["required"] as? Bool ?? true
                attributes[name] = Attribute(type: try attributeType(value, at: "\(path).\(name)", file: file), required: required)
            }
            return .record(attributes)
        default:
            throw fail("type \(type) is outside the supported subset (Boolean, Long, String, Entity, Set, Record)")
        }
    }

    /// True if an entity of type `descendant` can be `in` one of type `ancestor` (the same type, or through
    /// `memberOfTypes`).
    func canBeIn(_ descendant: String, _ ancestor: String) -> Bool {
        if descendant == ancestor { return true }
        var seen: Set<String> = [descendant]
        var frontier = [descendant]
        while let next = frontier.popLast() {
            for parent in entityTypes[next]?.memberOfTypes ?? [] where seen.insert(parent).inserted {
                if parent == ancestor { return true }
                frontier.append(parent)
            }
        }
        return false
    }

    /// The action and every action group above it.
    func actionAncestors(_ name: String) -> Set<String> {
        var seen: Set<String> = [name]
        var frontier = [name]
        while let next = frontier.popLast() {
            for parent in actions[next]?.memberOf ?? [] where seen.insert(parent).inserted { frontier.append(parent) }
        }
        return seen
    }
}
