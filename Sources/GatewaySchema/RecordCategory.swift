import Foundation

/// A record category: its JSON Schema plus the gateway's reading of it, from the schema's "x-datagateway" member:
///
///     "x-datagateway": {"category": "citizen", "idField": "citizen_id",
///                       "dimensions": ["district"], "aggregates": ["monthly_income"]}
///
/// `idField` names the record identifier, `dimensions` the coarse fields statistics may group by, `aggregates`
/// the integer fields that are also stored Paillier-encrypted for homomorphic sums.
public struct RecordCategory: Sendable {
    public let name: String
    public let schema: JSONSchema
    public let idField: String
    public let dimensions: [String]
    public let aggregates: [String]
    /// All fields declared by the schema, in sorted order.
    public var fields: [String] { schema.propertyOrder }

    public init(schema: JSONSchema) throws {
        func fail(_ message: String) -> SchemaError { SchemaError(.invalidSchema, path: "/x-datagateway", message: message) }
        guard let meta = schema.extensions["x-datagateway"]?.objectValue else { throw fail("missing x-datagateway member") }
        guard let name = meta["category"]?.stringValue, Self.isValidName(name) else { throw fail("category must be a lowercase identifier") }
        guard let idField = meta["idField"]?.stringValue, schema.properties[idField] != nil, schema.required.contains(idField) else {
            throw fail("idField must name a required property")
        }
        func names(_ key: String) throws -> [String] {
            guard let list = meta[key] else { return [] }
            guard let items = list.arrayValue else { throw fail("\(key) must be an array") }
            return try items.map {
                guard let field = $0.stringValue, schema.properties[field] != nil else { throw fail("\(key) must name properties") }
                return field
            }
        }
        self.name = name
        self.schema = schema
        self.idField = idField
        self.dimensions = try names("dimensions")
        self.aggregates = try names("aggregates")
        for field in aggregates where schema.properties[field]?.types != ["integer"] {
            throw fail("aggregate field \(field) must have type integer")
        }
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64 && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x5f || ($0 >= 0x30 && $0 <= 0x39) }
    }

    /// The categories of a set of schema files (name and bytes, in name order): every one with an x-datagateway
    /// member; a category defined twice is an error naming the file.
    public static func categories(from files: [(name: String, data: Data)]) throws -> [String: RecordCategory] {
        var categories: [String: RecordCategory] = [:]
        for file in files {
            do {
                let json = try JSONValue.parse(file.data)
                guard json["x-datagateway"] != nil else { continue }
                let category = try RecordCategory(schema: try JSONSchema(json: json))
                guard categories[category.name] == nil else {
                    throw SchemaError(.invalidSchema, path: "", message: "category \(category.name) defined twice")
                }
                categories[category.name] = category
            } catch let error as SchemaError {
                throw SchemaError(error.code, path: error.path, message: "\(file.name): \(error.message)")
            }
        }
        return categories
    }
}
