import Foundation

/// The subset of JSON Schema (draft 2020-12 vocabulary) that record categories use:
/// type, properties, required, additionalProperties, items, enum, const, pattern, minLength, maxLength,
/// minimum, maximum, exclusiveMinimum, exclusiveMaximum, minItems, maxItems. Other keywords are rejected when
/// the schema is loaded, so a schema never silently means less than it says.
public final class JSONSchema: Sendable {
    public let types: [String]?
    public let properties: [String: JSONSchema]
    public let propertyOrder: [String]
    public let required: [String]
    /// nil: any additional property allowed; `false` schema: none allowed.
    public let additionalProperties: AdditionalProperties
    public let items: JSONSchema?
    public let enumValues: [JSONValue]?
    public let constValue: JSONValue?
    public let pattern: String?
    let compiledPattern: ECMAPattern?
    public let minLength: Int?
    public let maxLength: Int?
    public let minimum: Double?
    public let maximum: Double?
    public let exclusiveMinimum: Double?
    public let exclusiveMaximum: Double?
    public let minItems: Int?
    public let maxItems: Int?
    /// Keywords starting with "x-" are extensions carried for the gateway (e.g. "x-datagateway").
    public let extensions: [String: JSONValue]

    public enum AdditionalProperties: Sendable {
        case allowed
        case forbidden
        case schema(JSONSchema)
    }

    static let annotationKeywords: Set<String> = ["$schema", "$id", "title", "description", "examples", "default", "format", "$comment"]
    static let knownTypes: Set<String> = ["null", "boolean", "integer", "number", "string", "array", "object"]

    public convenience init(json: JSONValue) throws {
        try self.init(json: json, path: "")
    }

    init(json: JSONValue, path: String) throws {
        guard case .object(let members) = json else {
            throw SchemaError(.invalidSchema, path: path, message: "a schema must be an object")
        }
        func fail(_ message: String) -> SchemaError { SchemaError(.invalidSchema, path: path, message: message) }
        var extensions: [String: JSONValue] = [:]
        let supported: Set<String> = [
            "type", "properties", "required", "additionalProperties", "items", "enum", "const", "pattern", "minLength",
            "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems",
        ]
        for key in members.keys.sorted() where !supported.contains(key) && !Self.annotationKeywords.contains(key) {
            if key.hasPrefix("x-") { extensions[key] = members[key] } else { throw fail("unsupported keyword '\(key)'") }
        }
        self.extensions = extensions

        switch members["type"] {
        case nil: types = nil
        case .string(let single)?: types = [single]
        case .array(let many)?:
            types = try many.map {
                guard let s = $0.stringValue else { throw fail("type must be strings") }; return s
            }
        default: throw fail("type must be a string or an array of strings")
        }
        if let types, let unknown = types.first(where: { !Self.knownTypes.contains($0) }) { throw fail("unknown type '\(unknown)'") }

        var properties: [String: JSONSchema] = [:]
        var order: [String] = []
        if let value = members["properties"] {
            guard case .object(let props) = value else { throw fail("properties must be an object") }
            for name in props.keys.sorted() {
                properties[name] = try JSONSchema(json: props[name]!, path: path + "/properties/" + name)
                order.append(name)
            }
        }
        self.properties = properties
        self.propertyOrder = order

        if let value = members["required"] {
            guard case .array(let names) = value else { throw fail("required must be an array") }
            required = try names.map {
                guard let s = $0.stringValue else { throw fail("required must hold strings") }; return s
            }
        } else {
            required = []
        }

        switch members["additionalProperties"] {
        case nil, .bool(true)?: additionalProperties = .allowed
        case .bool(false)?: additionalProperties = .forbidden
        case let schema?: additionalProperties = .schema(try JSONSchema(json: schema, path: path + "/additionalProperties"))
        }
        items = try members["items"].map { try JSONSchema(json: $0, path: path + "/items") }
        if let value = members["enum"] {
            guard case .array(let values) = value, !values.isEmpty else { throw fail("enum must be a non-empty array") }
            enumValues = values
        } else {
            enumValues = nil
        }
        constValue = members["const"]
        if let value = members["pattern"] {
            guard let text = value.stringValue else { throw fail("pattern must be a string") }
            pattern = text
            do { compiledPattern = try ECMAPattern(text) } catch { throw fail("\(error)") }
        } else {
            pattern = nil
            compiledPattern = nil
        }
        func int(_ key: String) throws -> Int? {
            guard let value = members[key] else { return nil }
            guard let number = value.integerValue, number >= 0 else { throw fail("\(key) must be a non-negative integer") }
            return Int(number)
        }
        func double(_ key: String) throws -> Double? {
            guard let value = members[key] else { return nil }
            guard let number = value.doubleValue else { throw fail("\(key) must be a number") }
            return number
        }
        minLength = try int("minLength")
        maxLength = try int("maxLength")
        minItems = try int("minItems")
        maxItems = try int("maxItems")
        minimum = try double("minimum")
        maximum = try double("maximum")
        exclusiveMinimum = try double("exclusiveMinimum")
        exclusiveMaximum = try double("exclusiveMaximum")
    }

    /// All violations in the document, in a deterministic order (document order of the schema's properties).
    public func validate(_ value: JSONValue, at path: String = "") -> [SchemaError] {
        var errors: [SchemaError] = []
        validate(value, path: path, into: &errors)
        return errors
    }

    private func validate(_ value: JSONValue, path: String, into errors: inout [SchemaError]) {
        func fail(_ message: String) { errors.append(SchemaError(.invalidRecord, path: path, message: message)) }
        if let types, !types.contains(where: { Self.matches(value, type: $0) }) {
            fail("expected \(types.joined(separator: " or ")), found \(value.typeName)")
            return
        }
        if let enumValues, !enumValues.contains(where: { Self.jsonEqual($0, value) }) {
            fail("value is not one of the allowed values")
        }
        if let constValue, !Self.jsonEqual(constValue, value) { fail("value must equal the constant") }
        switch value {
        case .string(let text):
            let length = text.unicodeScalars.count
            if let minLength, length < minLength { fail("shorter than \(minLength) characters") }
            if let maxLength, length > maxLength { fail("longer than \(maxLength) characters") }
            if let compiledPattern, let pattern, !compiledPattern.matches(text) { fail("does not match pattern \(pattern)") }
        case .integer, .number:
            let number = value.doubleValue!
            if let minimum, number < minimum { fail("less than the minimum \(Self.format(minimum))") }
            if let maximum, number > maximum { fail("greater than the maximum \(Self.format(maximum))") }
            if let exclusiveMinimum, number <= exclusiveMinimum { fail("must be greater than \(Self.format(exclusiveMinimum))") }
            if let exclusiveMaximum, number >= exclusiveMaximum { fail("must be less than \(Self.format(exclusiveMaximum))") }
        case .array(let elements):
            if let minItems, elements.count < minItems { fail("fewer than \(minItems) items") }
            if let maxItems, elements.count > maxItems { fail("more than \(maxItems) items") }
            if let items {
                for (index, element) in elements.enumerated() { items.validate(element, path: path + "/\(index)", into: &errors) }
            }
        case .object(let members):
            for name in required where members[name] == nil {
                errors.append(SchemaError(.invalidRecord, path: path + "/" + Self.escape(name), message: "required field is missing"))
            }
            for name in propertyOrder {
                if let member = members[name] { properties[name]!.validate(member, path: path + "/" + Self.escape(name), into: &errors) }
            }
            for name in members.keys.sorted() where properties[name] == nil {
                switch additionalProperties {
                case .allowed: break
                case .forbidden:
                    errors.append(SchemaError(.invalidRecord, path: path + "/" + Self.escape(name), message: "field is not allowed"))
                case .schema(let schema): schema.validate(members[name]!, path: path + "/" + Self.escape(name), into: &errors)
                }
            }
        case .null, .bool:
            break
        }
    }

    static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object): return true
        case ("number", .integer), ("number", .number): return true
        case ("integer", .integer): return true
        case ("integer", .number(let d)): return d.rounded() == d && d.isFinite
        default: return false
        }
    }

    /// JSON equality as JSON Schema defines it: 1 and 1.0 are equal.
    static func jsonEqual(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.integer, .number), (.number, .integer), (.number, .number), (.integer, .integer):
            return lhs.doubleValue == rhs.doubleValue
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { jsonEqual($0, $1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count && a.allSatisfy { key, value in b[key].map { jsonEqual(value, $0) } ?? false }
        default:
            return lhs == rhs
        }
    }

    static func escape(_ name: String) -> String {
        name.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    static func format(_ number: Double) -> String {
        number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }
}
