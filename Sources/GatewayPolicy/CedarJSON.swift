import Foundation

/// Cedar's JSON formats for entities, values and requests (the ones the Cedar CLI and cedarpy read), so that entity
/// stores and requests can be written in files for `gateway policy explain`/`test` and shared with the reference engine.
///
/// - entity: `{"uid": {"type": "T", "id": "i"}, "attrs": {…}, "parents": [uid, …]}`
/// - value: JSON bool, integer, string, array (set), object (record), or `{"__entity": {"type": "T", "id": "i"}}`
/// - request: `{"principal": "T::\"i\"" or uid, "action": …, "resource": …, "context": {…}}`
public enum CedarJSON {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { message }
    }

    public static func entities(_ data: Data) throws -> EntityStore {
        guard let array = try parse(data) as? [Any] else { throw Failure(message: "entities must be a JSON array") }
        var store = EntityStore()
        for (index, item) in array.enumerated() {
            store.insert(try entity(item, at: "entities[\(index)]"))
        }
        return store
    }

    public static func entity(_ json: Any, at path: String) throws -> Entity {
        guard let object = json as? [String: Any] else { throw Failure(message: "\(path) must be an object") }
        guard let uidJSON = object["uid"] else { throw Failure(message: "\(path) has no uid") }
        let uid = try entityUID(uidJSON, at: "\(path).uid")
        var attributes: [String: Value] = [:]
        if let attrs = object["attrs"] {
            guard let members = attrs as? [String: Any] else { throw Failure(message: "\(path).attrs must be an object") }
            for (key, value) in members { attributes[key] = try self.value(value, at: "\(path).attrs.\(key)") }
        }
        var parents: [EntityUID] = []
        if let list = object["parents"] {
            guard let items = list as? [Any] else { throw Failure(message: "\(path).parents must be an array") }
            parents = try items.enumerated().map { try entityUID($1, at: "\(path).parents[\($0)]") }
        }
        return Entity(uid: uid, attributes: attributes, parents: parents)
    }

    /// `{"type": …, "id": …}`, `{"__entity": {…}}` or the Cedar text `Type::"id"`.
    public static func entityUID(_ json: Any, at path: String) throws -> EntityUID {
        if let text = json as? String {
            guard let uid = EntityUID(parsing: text) else { throw Failure(message: "\(path): \(text) is not an entity reference like Type::\"id\"") }
            return uid
        }
        guard var object = json as? [String: Any] else { throw Failure(message: "\(path) must be an entity reference") }
        if let inner = object["__entity"] as? [String: Any] { object = inner }
        guard let type = object["type"] as? String, let id = object["id"] as? String, EntityUID(parsing: "\(type)::\"\"") != nil else {
            throw Failure(message: "\(path) must have a type (like Department or Gov::Department) and a string id")
        }
        return EntityUID(type: type, id: id)
    }

    public static func value(_ json: Any, at path: String) throws -> Value {
        switch json {
        case let number as NSNumber:
            // JSON booleans arrive as NSNumber of ObjC type char; integers keep their exact text in stringValue.
            if String(cString: number.objCType) == "c" { return .bool(number.boolValue) }
            guard let long = Int64(number.stringValue) else {
                throw Failure(message: "\(path): \(number) is not a Long (Cedar has no fractions here)")
            }
            return .long(long)
        case let text as String:
            return .string(text)
        case let items as [Any]:
            return .set(try items.enumerated().map { try value($1, at: "\(path)[\($0)]") })
        case let members as [String: Any]:
            if members.keys.count == 1, members["__entity"] != nil { return .entity(try entityUID(members, at: path)) }
            if members["__extn"] != nil { throw Failure(message: "\(path): extension values are outside the supported subset") }
            var record: [String: Value] = [:]
            for (key, member) in members { record[key] = try value(member, at: "\(path).\(key)") }
            return .record(record)
        default:
            throw Failure(message: "\(path): null is not a Cedar value")
        }
    }

    public static func request(_ json: Any, at path: String = "request") throws -> AuthorizationRequest {
        guard let object = json as? [String: Any] else { throw Failure(message: "\(path) must be an object") }
        func uid(_ key: String) throws -> EntityUID {
            guard let value = object[key] else { throw Failure(message: "\(path) has no \(key)") }
            return try entityUID(value, at: "\(path).\(key)")
        }
        var context: [String: Value] = [:]
        if let contextJSON = object["context"] {
            guard case .record(let members) = try value(contextJSON, at: "\(path).context") else {
                throw Failure(message: "\(path).context must be an object")
            }
            context = members
        }
        return AuthorizationRequest(principal: try uid("principal"), action: try uid("action"), resource: try uid("resource"), context: context)
    }

    static func parse(_ data: Data) throws -> Any {
        do {
            return try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw Failure(message: "not valid JSON: \(error.localizedDescription)")
        }
    }
}

extension EntityUID {
    /// Parses Cedar's text form, `Type::"id"` (the type may be namespaced).
    public init?(parsing text: String) {
        var lexer = Lexer(source: text, file: "uid")
        guard let tokens = try? lexer.tokenize() else { return nil }
        var parser = PolicyParser(file: "uid", tokens: tokens)
        guard let uid = try? parser.parseEntityUID(), parser.atEnd else { return nil }
        self = uid
    }
}
