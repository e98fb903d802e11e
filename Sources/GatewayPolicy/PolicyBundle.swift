import Foundation

/// The policy files of a deployment, loaded in file-name order, with the static entities they refer to
/// (`entities.json`: the purpose hierarchy, groups, action groups), and the canonical bytes its hash is taken over.
public struct PolicyBundle: Sendable {
    public static let entitiesFile = "entities.json"
    /// The Cedar schema's file name in the schemas directory.
    public static let schemaFile = "policies.cedarschema.json"

    public let policySet: PolicySet
    /// (file name, contents) in file-name order: what the bundle hash covers, with `entities.json` if present.
    public let sources: [(file: String, text: String)]
    /// The static entities of `entities.json` (empty without one).
    public let entities: EntityStore
    /// Ids of the `Purpose` entities: the purposes a request may declare (empty: any purpose).
    public let purposes: Set<String>
    /// The Cedar schema the policies were validated against (nil: none given).
    public let schema: CedarSchema?

    /// Parses and validates: a policy the schema rejects fails the load with its location (the first error, and how
    /// many there are; `PolicyValidator` lists them all).
    public init(sources: [(file: String, text: String)], entitiesText: String? = nil, schemaText: String? = nil) throws {
        let ordered = sources.sorted { $0.file < $1.file }
        self.policySet = try PolicySet(sources: ordered)
        if let schemaText {
            let schema: CedarSchema
            do {
                schema = try CedarSchema(json: Data(schemaText.utf8), file: Self.schemaFile)
            } catch {
                throw PolicyError(.schema, "\(error)", at: SourceLocation(file: Self.schemaFile, line: 1, column: 1))
            }
            let errors = PolicyValidator(schema: schema).validate(policySet.policies)
            if let first = errors.first {
                let more = errors.count > 1 ? " (and \(errors.count - 1) more schema errors)" : ""
                throw PolicyError(.schema, first.message + more, at: first.location)
            }
            self.schema = schema
        } else {
            self.schema = nil
        }
        if let entitiesText {
            do {
                entities = try CedarJSON.entities(Data(entitiesText.utf8))
            } catch {
                throw PolicyError(.invalidEntities, "\(error)", at: SourceLocation(file: Self.entitiesFile, line: 1, column: 1))
            }
            self.sources = ordered + [(Self.entitiesFile, entitiesText)] + (schemaText.map { [(Self.schemaFile, $0)] } ?? [])
        } else {
            entities = EntityStore()
            self.sources = ordered + (schemaText.map { [(Self.schemaFile, $0)] } ?? [])
        }
        purposes = Set(entities.entities.keys.filter { $0.type == "Purpose" }.map(\.id))
        var covert: [String: Int64] = [:]
        for uid in entities.entities.keys where uid.type == "Purpose" {
            guard let attributes = entities[uid]?.attributes else { continue }
            let fail = { (message: String) in
                PolicyError(.invalidEntities, "Purpose::\"\(uid.id)\": \(message)", at: SourceLocation(file: Self.entitiesFile, line: 1, column: 1))
            }
            switch (attributes["covert"], attributes["max_deferral_days"]) {
            case (nil, nil), (.bool(false)?, nil): continue
            case (.bool(true)?, .long(let days)?):
                guard (1...Self.deferralDaysMax).contains(days) else {
                    throw fail("max_deferral_days must be 1 to \(Self.deferralDaysMax)")
                }
                covert[uid.id] = days
            case (.bool(true)?, _): throw fail("a covert purpose sets max_deferral_days (a Long, 1 to \(Self.deferralDaysMax))")
            default: throw fail("covert is a Bool, and max_deferral_days goes with covert: true")
            }
        }
        covertPurposes = covert
    }

    /// The longest deferral a bundle may set: ten years (the chain refuses longer ones whatever the bundle says).
    public static let deferralDaysMax: Int64 = 3_650

    /// Purposes the bundle marks covert (`"covert": true` on the Purpose entity), with the longest time in days for
    /// which an access for them may stay hidden from the citizens concerned (`"max_deferral_days"`).
    public let covertPurposes: [String: Int64]

    /// The deferral rule for a purpose: the nearest purpose in its chain that is marked covert, and its maximum in
    /// days (nil: accesses for this purpose are visible to citizens at once).
    public func deferral(for purpose: String) -> (covertPurpose: String, maxDays: Int64)? {
        for link in purposeChain(purpose) {
            if let days = covertPurposes[link] { return (link, days) }
        }
        return nil
    }

    /// The purpose and its ancestors, nearest first (just the purpose if the bundle has no hierarchy).
    public func purposeChain(_ purpose: String) -> [String] {
        var chain = [purpose]
        var current = EntityUID(type: "Purpose", id: purpose)
        while let parent = entities[current]?.parents.first(where: { $0.type == "Purpose" }), !chain.contains(parent.id) {
            chain.append(parent.id)
            current = parent
        }
        return chain
    }

    /// Length-prefixed concatenation of names and contents; hash it with the deployment's suite.
    public var canonicalBytes: [UInt8] {
        var out: [UInt8] = Array("datagateway/policy-bundle/v1".utf8)
        for source in sources {
            for part in [source.file, source.text] {
                let bytes = Array(part.utf8)
                var length = UInt64(bytes.count).bigEndian
                withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
                out.append(contentsOf: bytes)
            }
        }
        return out
    }
}
