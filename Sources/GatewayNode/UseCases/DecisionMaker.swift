import GatewayChain
import GatewayCrypto
import GatewayPolicy
import GatewaySchema
import GatewayWire
import Logging

/// Decides requests under the node's policy bundle: builds the entities a decision sees (standing entities, the
/// applicable grant, records with their citizens' consents), evaluates, and turns obligations the gateway cannot
/// meet into refusals. It decides; it does not log (that is `AccessGate`) and releases nothing.
package struct DecisionMaker: Sendable {
    let policies: PolicyBundle
    /// The bundle's static entities (purposes, groups, roles, action groups), every registered department with its
    /// groups and every category. Built once; requests never copy it unless they add to it.
    let entities: EntityStore
    /// Each declared purpose's depth in the hierarchy (how many purposes it is, or descends from), computed once:
    /// the most specific grant wins.
    let purposeDepth: [String: Int]
    let vault: RecordVault
    let ledger: any LedgerReading
    let nodeID: String
    let logger: Logger
    let now: @Sendable () -> Int64

    package init(
        policies: PolicyBundle, departments: DepartmentDirectory, categories: Categories, vault: RecordVault, ledger: any LedgerReading,
        nodeID: String, logger: Logger, now: @escaping @Sendable () -> Int64
    ) {
        self.policies = policies
        let entities = Self.entityStore(policies: policies, departments: departments, categories: categories.byName)
        self.entities = entities
        var depths: [String: Int] = [:]
        for purpose in policies.purposes {
            let uid = EntityUID(type: "Purpose", id: purpose)
            depths[purpose] = policies.purposes.filter { entities.isDescendant(uid, of: EntityUID(type: "Purpose", id: $0)) }.count
        }
        purposeDepth = depths
        self.vault = vault
        self.ledger = ledger
        self.nodeID = nodeID
        self.logger = logger
        self.now = now
    }

    func authorize(_ principal: Principal, action: String, category: String, purpose: String) -> EffectiveDecision {
        authorize(principal, action: action, resource: EntityUID(type: "Category", id: category), purpose: purpose)
    }

    /// One decision. With a grant, the grant is the entity `Grant::"<id>"` in the store and `context.grant` names it;
    /// a permit that reads it is bound by its fields and expiry.
    func authorize(
        _ principal: Principal, action: String, resource: EntityUID, purpose: String, entities: EntityStore? = nil,
        grant: GrantRegistry.Entry? = nil
    ) -> EffectiveDecision {
        var context: [String: Value] = ["purpose": .entity(EntityUID(type: "Purpose", id: purpose))]
        var store = entities ?? self.entities
        if let grant {
            let entity = Self.grantEntity(grant)
            if store[entity.uid] == nil { store.insert(entity) }
            context[Obligations.grantAttribute] = .entity(entity.uid)
        }
        let request = AuthorizationRequest(
            principal: principal.entity, action: EntityUID(type: "Action", id: action), resource: resource, context: context
        )
        let decision = policies.policySet.authorize(request, entities: store)
        for error in decision.errors {
            logger.warning("policy evaluation error", metadata: ["policy": "\(error.policy)", "error": "\(error.message)"])
        }
        // An expired grant is an obligation the gateway cannot meet: the request is refused (and logged so).
        if let expiry = decision.obligations?.expiresAtMs, now() >= expiry {
            return EffectiveDecision(refusing: EffectiveDecision(decision, grant: grant), because: "the permit expired at \(expiry) ms (Unix)")
        }
        return EffectiveDecision(decision, grant: grant)
    }

    /// A regulator's read of the access log: `Action::"audit"` on `AccessLog::"chain"` for the purpose `audit`.
    func authorizeAudit(_ principal: Principal) -> EffectiveDecision {
        authorize(principal, action: "audit", resource: EntityUID(type: "AccessLog", id: "chain"), purpose: "audit")
    }

    /// A read is decided record by record: each requested record is the resource `Record::"<salted record key>"`,
    /// in its category, with the purposes its citizen has consented to on chain (`consents`, a set of Purpose
    /// entities), so a policy can require consent (`context.purpose in resource.consents`); `resource.citizen` is the
    /// citizen, `Citizen::"<salted citizen key>"`, with the same `consents`. The request is allowed only
    /// if every record is; the determining policies are all those that allowed one, and their obligations combine
    /// least-privilege. A denial names the first record refused, by its position in the request.
    func authorizeRecords(
        _ principal: Principal, category: String, ids: [String], purpose: String, grant: GrantRegistry.Entry?
    ) async -> EffectiveDecision {
        let consents = await ledger.consentedPurposes(ids.map(vault.citizenKey))
        var store = entities
        if let grant { store.insert(Self.grantEntity(grant)) }
        var resources: [EntityUID] = []
        for (id, purposes) in zip(ids, consents) {
            let uid = EntityUID(type: "Record", id: Hex.encode(vault.recordKey(category: category, id: id)))
            let consented = Value.set(purposes.map { .entity(EntityUID(type: "Purpose", id: $0)) })
            let citizen = EntityUID(type: "Citizen", id: Hex.encode(vault.citizenKey(id)))
            store.insert(Entity(uid: citizen, attributes: ["consents": consented]))
            store.insert(
                Entity(
                    uid: uid, attributes: ["consents": consented, "citizen": .entity(citizen)],
                    parents: [EntityUID(type: "Category", id: category)]
                ))
            resources.append(uid)
        }
        var policies: [String] = []
        var obligations = Obligations.unrestricted
        var grantID: String?
        for (position, resource) in resources.enumerated() {
            let decision = authorize(principal, action: "read", resource: resource, purpose: purpose, entities: store, grant: grant)
            guard decision.effect == .allow, let granted = decision.obligations else {
                return decision.explained("ids[\(position)]")
            }
            for policy in decision.policies where !policies.contains(policy) { policies.append(policy) }
            obligations = obligations.combined(with: granted)
            grantID = grantID ?? decision.grantID
        }
        return EffectiveDecision(allowing: policies, obligations: obligations, grantID: grantID)
    }

    /// The grant a request may rely on: recorded on chain by this node's department (the holder of the data), to the
    /// requester's department, for the category, for the request's purpose or one above it in the hierarchy, neither
    /// revoked nor expired. Of several, the one for the most specific purpose, then the latest expiry, then the
    /// smallest id. Whether it counts is for the policies to say (see `granted-access` in Policies/demo.cedar).
    func applicableGrant(_ principal: Principal, category: String, purpose: String) async -> GrantRegistry.Entry? {
        let live = await ledger.liveGrants(byDepartmentOf: nodeID, grantee: principal.department, category: category, atMs: now())
        guard !live.isEmpty else { return nil }
        let requested = EntityUID(type: "Purpose", id: purpose)
        func depth(_ purpose: String) -> Int { purposeDepth[purpose] ?? 0 }
        let covering = live.filter { entities.isDescendant(requested, of: EntityUID(type: "Purpose", id: $0.grant.purpose)) }
        return covering.min { first, second in
            let (a, b) = (first.grant, second.grant)
            let (depthA, depthB) = (depth(a.purpose), depth(b.purpose))
            if depthA != depthB { return depthA > depthB }
            if a.expiresAtMs != b.expiresAtMs { return a.expiresAtMs > b.expiresAtMs }
            return a.grantID < b.grantID
        }
    }

    /// A grant as the policies see it: `Grant::"<id>"` with grantor, grantee, category, purpose, fields, expiresAt.
    static func grantEntity(_ entry: GrantRegistry.Entry) -> Entity {
        let grant = entry.grant
        return Entity(
            uid: EntityUID(type: "Grant", id: grant.grantID),
            attributes: [
                "grantor": .entity(EntityUID(type: "Department", id: entry.grantor)),
                "grantee": .entity(EntityUID(type: "Department", id: grant.grantee)),
                "category": .entity(EntityUID(type: "Category", id: grant.category)),
                "purpose": .entity(EntityUID(type: "Purpose", id: grant.purpose)),
                "fields": .set(grant.fields.map { .string($0) }),
                "expiresAt": .long(grant.expiresAtMs),
            ])
    }

    /// The node's standing entities: the bundle's (purposes, groups, roles, action groups), every registered
    /// department with its groups, and every record category with its fields, dimensions and aggregate fields (a
    /// category the bundle also declares keeps the bundle's parents).
    static func entityStore(policies: PolicyBundle, departments: DepartmentDirectory, categories: [String: RecordCategory]) -> EntityStore {
        var store = policies.entities
        for category in categories.values {
            let uid = EntityUID(type: "Category", id: category.name)
            func names(_ list: [String]) -> Value { .set(list.sorted().map { .string($0) }) }
            store.insert(
                Entity(
                    uid: uid,
                    attributes: [
                        "fields": names(category.fields), "dimensions": names(category.dimensions), "aggregates": names(category.aggregates),
                    ],
                    parents: store[uid]?.parents ?? []
                ))
        }
        for department in departments.departments.values {
            store.insert(
                Entity(
                    uid: EntityUID(type: "Department", id: department.id), attributes: ["id": .string(department.id)],
                    parents: (department.groups ?? []).sorted().map { EntityUID(type: "Group", id: $0) }
                ))
        }
        return store
    }

    /// A request made in a role must name one the bundle declares for the department: `Role::"<department>/<role>"`
    /// in entities.json, a child of `Department::"<department>"`.
    func checkRole(_ principal: Principal) throws {
        guard let role = principal.role else { return }
        let uid = principal.entity
        guard entities[uid]?.parents.contains(EntityUID(type: "Department", id: principal.department)) == true else {
            let declared = entities.entities.keys.filter { $0.type == "Role" && $0.id.hasPrefix(principal.department + "/") }
                .map { String($0.id.dropFirst(principal.department.count + 1)) }.sorted()
            let hint =
                declared.isEmpty ? "it declares no roles for it: act as the department itself" : "declared: " + declared.joined(separator: ", ")
            throw ExchangeError(
                .unknownRole,
                """
                role '\(role)' is not declared for \(principal.department) in the policy bundle (Role::"\(uid.id)" in \
                entities.json); \(hint)
                """)
        }
    }

    /// When the bundle declares a purpose hierarchy, a request's purpose must be one of its purposes (checked after the
    /// request's shape, so malformed requests still get 400).
    func checkKnownPurpose(_ purpose: String) throws {
        guard policies.purposes.isEmpty || policies.purposes.contains(purpose) else {
            throw ExchangeError(
                .unknownPurpose,
                """
                purpose '\(purpose)' is not in the purpose hierarchy of the policy bundle; declare one of: \
                \(policies.purposes.sorted().joined(separator: ", "))
                """)
        }
    }
}
