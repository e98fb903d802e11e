import Foundation
import GatewayChain
import GatewayCrypto
import GatewayPolicy
import GatewaySchema
import GatewayStore
import Logging
import NIOConcurrencyHelpers

/// An authenticated caller: the department whose key signed the request, the role within it the request declares
/// (signed too), and the digest of that signature.
public struct Principal: Sendable {
    public let department: String
    /// The role within the department (`DG-Role`); nil when the department acts as itself.
    public let role: String?
    /// Digest of the request signature, recorded in the access log to bind the event to the request.
    public let requestDigest: [UInt8]

    public init(department: String, role: String? = nil, requestDigest: [UInt8]) {
        self.department = department
        self.role = role
        self.requestDigest = requestDigest
    }

    /// The policy principal: `Department::"<department>"`, or `Role::"<department>/<role>"` for a role.
    public var entity: EntityUID {
        role.map { EntityUID(type: "Role", id: "\(department)/\($0)") } ?? EntityUID(type: "Department", id: department)
    }
}

/// The data-exchange use cases: publish, request, aggregate, audit. Every decision — allowed or denied — is
/// written to the chain and committed before any data is returned (no log, no data).
public struct ExchangeService: Sendable {
    let suite: any CryptoSuite
    let chain: ChainService
    let records: RecordStore
    let chainStore: ChainStore
    /// The one way this node's transactions reach the chain.
    let submitter: TransactionSubmitter
    let accessLog: AccessLogBatcher
    let categories: [String: RecordCategory]
    let policies: PolicyBundle
    public let policyBundleHash: [UInt8]
    /// What decisions consult: the bundle's static entities (purposes, groups, action groups) and every registered
    /// department with its groups. Built once; requests never copy it.
    let entities: EntityStore
    let departments: DepartmentDirectory
    let vault: RecordVault
    let paillier: PaillierPrivateKey
    let encryptor: PaillierEncryptor
    let pool: RandomnessPool?
    let signer: any SigningKey
    let nodeID: String
    let chainID: String
    let logger: Logger
    let now: @Sendable () -> Int64
    /// A solo validator's self-approval of its bundle, run once for all the requests that arrive before it commits.
    let selfApproval = SingleFlight()
    /// Integrity failures seen since start (tampered records, aggregate inputs), reported by /v1/health.
    public let integrity = IntegrityCounter()

    /// Bounds on one request.
    public static let publishRecordsMax = 5_000
    public static let requestIDsMax = 1_000
    public static let auditPageMax = 1_000
    static let identifierLengthMax = 128

    init(
        suite: any CryptoSuite, chain: ChainService, database: Database, categories: [String: RecordCategory], policies: PolicyBundle,
        departments: DepartmentDirectory, secrets: NodeSecrets, encryptor: PaillierEncryptor, pool: RandomnessPool?, nodeID: String,
        submitter: TransactionSubmitter, logger: Logger, now: @escaping @Sendable () -> Int64
    ) {
        self.suite = suite
        self.chain = chain
        self.records = RecordStore(database: database)
        self.chainStore = ChainStore(database: database)
        self.submitter = submitter
        self.accessLog = AccessLogBatcher(submitter: submitter)
        self.categories = categories
        self.policies = policies
        self.policyBundleHash = suite.hash(policies.canonicalBytes)
        self.departments = departments
        self.entities = Self.entityStore(policies: policies, departments: departments, categories: categories)
        self.vault = RecordVault(suite: suite, recordKey: secrets.recordKey, salt: secrets.salt)
        self.paillier = secrets.paillier
        self.encryptor = encryptor
        self.pool = pool
        self.signer = secrets.signingKey
        self.nodeID = nodeID
        self.chainID = secrets.genesis.chainID
        self.logger = logger
        self.now = now
    }

    // MARK: Publish

    public func publish(_ principal: Principal, category name: String, records input: [JSONValue]) async throws -> API.PublishResponse {
        try await requireApprovedBundle()
        try checkRole(principal)
        let category = try category(named: name)
        guard !input.isEmpty else { throw ExchangeError(.invalidRequest, "records must hold at least one record") }
        guard input.count <= Self.publishRecordsMax else {
            throw ExchangeError(.invalidRequest, "at most \(Self.publishRecordsMax) records per publish")
        }
        // Validation of a large batch is CPU work: off the cooperative pool (HeavyWork).
        let fieldErrors = try await HeavyWork.run { Self.validate(input, category: category) }
        guard fieldErrors.isEmpty else {
            throw ExchangeError(.invalidRecord, "\(fieldErrors.count) field(s) failed validation; nothing was stored", fieldErrors: fieldErrors)
        }
        let ids = input.map { $0[category.idField]!.stringValue! }
        let recordKeys = ids.map { vault.recordKey(category: name, id: $0) }
        let decision = authorize(principal, action: "publish", category: name, purpose: "publication")
        let event = try await logAccess(principal, action: "publish", category: name, recordKeys: recordKeys, purpose: "publication", decision: decision)
        guard decision.effect == .allow else { throw denied(decision, event) }

        let stored = try await sealAll(input, ids: ids, recordKeys: recordKeys, category: category, publisher: principal.department)
        let outcome: RecordStore.PublishOutcome
        do {
            outcome = try await records.publish(stored) { fresh, nonce in
                let anchor = RecordAnchor(
                    publisher: principal.department, category: name,
                    entries: fresh.map {
                        RecordAnchor.Entry(
                            recordKey: $0.recordKey,
                            recordHash: vault.anchorHash(contentHash: $0.recordHash, dimensionsJSON: $0.dimensionsJSON, aggregates: $0.aggregates)
                        )
                    }
                )
                let transaction = try submitter.sign(.recordAnchor, payload: anchor.encoded, nonce: nonce)
                return (transaction, submitter.hash(transaction))
            }
        } catch let error as StoreError where error.code == .conflict {
            throw ExchangeError(.recordConflict, error.message)
        }
        if let anchor = outcome.newAnchor { await submitter.offer(anchor) }
        var anchors: [API.Receipt] = []
        for hash in outcome.anchorTransactions {
            // The anchor this call wrote is known to the chain; an identical re-publish waits for an older one.
            let location = try await submitter.awaitCommit(hash, known: hash == outcome.newAnchor.map(submitter.hash))
            anchors.append(API.Receipt(eventId: nil, transaction: Hex.encode(hash), height: location.height, index: location.index))
        }
        return API.PublishResponse(
            category: name, accepted: outcome.inserted, alreadyPresent: outcome.alreadyPresent, anchors: anchors, event: event
        )
    }

    static func validate(_ input: [JSONValue], category: RecordCategory) -> [ExchangeError.FieldError] {
        var fieldErrors: [ExchangeError.FieldError] = []
        var seen = Set<String>()
        for (index, record) in input.enumerated() {
            for error in category.schema.validate(record, at: "/records/\(index)") {
                fieldErrors.append(.init(pointer: error.path, detail: error.message))
            }
            if let id = record[category.idField]?.stringValue {
                if let problem = Self.identifierProblem(id) {
                    fieldErrors.append(.init(pointer: "/records/\(index)/\(category.idField)", detail: "the id \(problem)"))
                } else if !seen.insert(id).inserted {
                    fieldErrors.append(.init(pointer: "/records/\(index)/\(category.idField)", detail: "duplicate id in this batch"))
                }
            }
        }
        return fieldErrors
    }

    /// Encrypts records (envelope) and their aggregate fields (Paillier) on all cores of the blocking pool.
    func sealAll(_ input: [JSONValue], ids: [String], recordKeys: [[UInt8]], category: RecordCategory, publisher: String) async throws -> [StoredRecord] {
        let chunkCount = max(1, min(ProcessInfo.processInfo.activeProcessorCount, input.count))
        let chunkSize = (input.count + chunkCount - 1) / chunkCount
        return try await withThrowingTaskGroup(of: (Int, [StoredRecord]).self) { group in
            for start in stride(from: 0, to: input.count, by: chunkSize) {
                let end = min(start + chunkSize, input.count)
                group.addTask {
                    try await HeavyWork.run {
                        var out: [StoredRecord] = []
                        for index in start..<end {
                            out.append(try seal(input[index], id: ids[index], recordKey: recordKeys[index], category: category, publisher: publisher))
                        }
                        return (start, out)
                    }
                }
            }
            var chunks: [(Int, [StoredRecord])] = []
            for try await chunk in group { chunks.append(chunk) }
            return chunks.sorted { $0.0 < $1.0 }.flatMap(\.1)
        }
    }

    func seal(_ record: JSONValue, id: String, recordKey: [UInt8], category: RecordCategory, publisher: String) throws -> StoredRecord {
        let (wrapped, ciphertext) = try vault.seal(category: category.name, id: id, record: record)
        var dimensions: [String: JSONValue] = [:]
        for field in category.dimensions { dimensions[field] = record[field] ?? .null }
        var aggregates: [String: [UInt8]] = [:]
        for field in category.aggregates {
            guard let value = record[field]?.integerValue else { continue }
            aggregates[field] = try encryptor.encrypt(GMPInteger(Int(value)), pool: pool).serialized(for: paillier.publicKey)
        }
        return StoredRecord(
            category: category.name, recordID: id, publisher: publisher, recordKey: recordKey,
            citizenKey: vault.citizenKey(id), recordHash: vault.recordHash(category: category.name, record: record),
            wrappedKey: wrapped, ciphertext: ciphertext, dimensionsJSON: JSONValue.object(dimensions).canonicalString,
            aggregates: aggregates
        )
    }

    // MARK: Request records

    public func requestRecords(_ principal: Principal, _ request: API.RecordsRequest) async throws -> API.RecordsResponse {
        try await requireApprovedBundle()
        try checkRole(principal)
        let category = try category(named: request.category)
        try Self.checkPurpose(request.purpose)
        guard !request.ids.isEmpty, request.ids.count <= Self.requestIDsMax else {
            throw ExchangeError(.invalidRequest, "ids must hold between 1 and \(Self.requestIDsMax) record ids")
        }
        for (index, id) in request.ids.enumerated() {
            try Self.checkIdentifier(id, "ids[\(index)]")
        }
        // Duplicates removed, first occurrence kept, so the response follows the request's order.
        try checkKnownPurpose(request.purpose)
        var seenIDs = Set<String>()
        let ids = request.ids.filter { seenIDs.insert($0).inserted }
        let grant = await applicableGrant(principal, category: category.name, purpose: request.purpose)
        var decision = await authorizeRecords(principal, category: category.name, ids: ids, purpose: request.purpose, grant: grant)
        // An obligation the request cannot meet turns the permit into a denial, and is logged as such.
        if decision.effect == .allow, let obligations = decision.obligations {
            if obligations.aggregateOnly {
                decision = .init(refusing: decision, because: "the permit allows aggregates only")
            } else if let rows = obligations.maximumRows, ids.count > rows {
                decision = .init(refusing: decision, because: "the permit allows at most \(rows) records per request")
            }
        }
        let recordKeys = ids.map { vault.recordKey(category: category.name, id: $0) }
        let receipt = try await logAccess(
            principal, action: "read", category: category.name, recordKeys: recordKeys, purpose: request.purpose, decision: decision
        )
        guard decision.effect == .allow, let obligations = decision.obligations else { throw denied(decision, receipt) }

        try await requireDerived(.anchoredRecords)
        let stored = try await records.records(category: category.name, ids: ids)
        let positions = Dictionary(ids.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        var released: [JSONValue] = []
        for record in stored {
            let plaintext = try verifiedRecord(record, position: positions[record.recordID] ?? 0)
            released.append(apply(obligations, to: plaintext, category: category))
        }
        let found = Set(stored.map(\.recordID))
        let fields = category.fields.filter { obligations.fields?.contains($0) ?? true }
        return API.RecordsResponse(
            decision: "allow", policies: decision.policies, fields: fields,
            masks: obligations.masks.filter { fields.contains($0.key) }.mapValues(\.description),
            records: released, missing: ids.filter { !found.contains($0) }, grant: decision.grantID, receipt: receipt
        )
    }

    // MARK: Policy bundle approval

    /// A node decides only under a policy bundle approved on chain (in the genesis, or by governance). A solo
    /// validator approves its own bundle: its proposal is decided by its single vote. Otherwise the request is refused
    /// until governance approves the bundle; approval takes effect without a restart.
    func requireApprovedBundle() async throws {
        if await isBundleApproved() { return }
        if await isSoloValidator() {
            // Concurrent first requests wait for the one proposal instead of racing their own (and failing).
            await selfApproval.run { await approveOwnBundle() }
            if await isBundleApproved() { return }
        }
        let hex = Hex.encode(policyBundleHash)
        throw ExchangeError(.bundleNotApproved, """
            this node's policy bundle \(hex) is not approved on chain, so it decides nothing; a validator's operator proposes it \
            (gateway governance propose --approve-bundle \(hex)) and 2/3 of the validators approve it
            """)
    }

    func isBundleApproved() async -> Bool {
        await chain.decidedGovernance().state.approvedBundles.contains(policyBundleHash)
    }

    func isSoloValidator() async -> Bool {
        await chain.decidedGovernance().state.validators.map(\.nodeID) == [nodeID]
    }

    /// Proposes the node's bundle (a solo chain decides it at once). If another process of the node proposed it first,
    /// the ledger skips this one; the caller re-reads the state either way.
    func approveOwnBundle() async {
        let proposal = GovernanceProposal(
            proposalID: "policy-bundle-" + Hex.encode(policyBundleHash).prefix(16), change: .approvePolicyBundle(hash: policyBundleHash)
        )
        do {
            _ = try await submitOwn(.proposal, payload: proposal.encoded)
            logger.notice("solo validator approved its policy bundle on chain", metadata: ["bundle": "\(Hex.encode(policyBundleHash))"])
        } catch {
            logger.debug("own bundle proposal not committed", metadata: ["error": "\(error)"])
        }
    }

    /// At startup: approve a solo node's bundle at once, or say loudly that this node will refuse requests.
    public func checkBundleAtStartup() async {
        do { try await chain.waitUntilReady() } catch { return }
        do {
            try await requireApprovedBundle()
            logger.info("policy bundle approved on chain", metadata: ["bundle": "\(Hex.encode(policyBundleHash))"])
        } catch {
            logger.error("\(error)")
        }
    }

    // MARK: Consent

    /// Records a citizen's consent for a purpose, or its withdrawal, as a `consent` transaction under the citizen's
    /// salted hash; it takes effect with the block that commits it, so the next read sees it. The caller needs a permit
    /// for `Action::"record_consent"` on the citizen category; the decision is logged like any other.
    public func recordConsent(_ principal: Principal, _ request: API.ConsentRequest) async throws -> API.ConsentResponse {
        try await requireApprovedBundle()
        try checkRole(principal)
        try Self.checkPurpose(request.purpose)
        try Self.checkIdentifier(request.citizenId, "citizenId")
        try checkKnownPurpose(request.purpose)
        let category = "citizen"
        let decision = authorize(principal, action: "record_consent", category: category, purpose: request.purpose)
        let receipt = try await logAccess(
            principal, action: "record_consent", category: category, recordKeys: [vault.recordKey(category: category, id: request.citizenId)],
            purpose: request.purpose, decision: decision
        )
        guard decision.effect == .allow else { throw denied(decision, receipt) }
        let subject = vault.citizenKey(request.citizenId)
        let change = ConsentChange(subject: subject, purpose: request.purpose, given: request.given)
        let (hash, location) = try await submitOwn(.consent, payload: change.encoded)
        return API.ConsentResponse(
            purpose: request.purpose, given: request.given, consents: await chain.consentedPurposes([subject])[0],
            transaction: Hex.encode(hash), height: location.height, receipt: receipt
        )
    }

    // MARK: Grants

    /// Longest grant the gateway records: ten years.
    public static let grantDurationMaxMs: Int64 = 10 * 366 * 86_400_000

    /// Records a grant on chain: this node's department — the holder of the data — lets another department use a
    /// category for a purpose until an expiry, optionally only some fields. Only the holder's own node issues its
    /// grants, and it needs a permit for `Action::"grant"` on the category (decided under the grant's purpose, so a
    /// forbidden purpose cannot be granted). The decision is logged; the grant applies from the block that commits it.
    public func issueGrant(_ principal: Principal, _ request: API.GrantRequest) async throws -> API.GrantResponse {
        try await requireApprovedBundle()
        try checkRole(principal)
        let category = try category(named: request.category)
        try Self.checkPurpose(request.purpose)
        try Self.checkIdentifier(request.grantee, "grantee")
        let expiresAtMs: Int64
        switch RFC3339.parse(request.expiresAt) {
        case .success(let instant): expiresAtMs = instant
        case .failure(.malformed):
            throw ExchangeError(.invalidRequest, "expiresAt must be an RFC 3339 date (2027-06-30) or date-time (2027-06-30T12:00:00Z)")
        case .failure(.impossible(let why)):
            throw ExchangeError(.invalidDate, "expiresAt names no real instant: \(why)")
        }
        let current = now()
        guard expiresAtMs > current, expiresAtMs - current <= Self.grantDurationMaxMs else {
            throw ExchangeError(.invalidRequest, "expiresAt must be in the future and at most ten years ahead")
        }
        let fields = request.fields ?? []
        guard Set(fields).count == fields.count else { throw ExchangeError(.invalidRequest, "fields must not repeat a field") }
        if let unknown = fields.first(where: { !category.fields.contains($0) }) {
            throw ExchangeError(.unknownField, "\(unknown) is not a field of \(category.name); use some of \(category.fields)")
        }
        try checkKnownPurpose(request.purpose)
        guard departments.departments[request.grantee] != nil else {
            throw ExchangeError(.unknownGrantee, "grantee '\(request.grantee)' is not a registered department; known: \(departments.departments.keys.sorted().joined(separator: ", "))")
        }
        let holder = try await requireHolder(principal, to: "grant")
        guard request.grantee != holder else { throw ExchangeError(.invalidRequest, "a department does not grant to itself") }
        let decision = authorize(principal, action: "grant", category: category.name, purpose: request.purpose)
        let receipt = try await logAccess(principal, action: "grant", category: category.name, recordKeys: [], purpose: request.purpose, decision: decision)
        guard decision.effect == .allow else { throw denied(decision, receipt) }
        let grant = Grant(
            grantID: "grant-" + UUID().uuidString.lowercased(), grantee: request.grantee, category: category.name, purpose: request.purpose,
            fields: fields, expiresAtMs: expiresAtMs
        )
        let (hash, location) = try await submitOwn(.grant, payload: grant.encoded)
        guard let entry = await chain.grant(id: grant.grantID) else { throw ExchangeError(.internalError, "the committed grant is not in the ledger") }
        return API.GrantResponse(grant: view(entry), transaction: Hex.encode(hash), height: location.height, receipt: receipt)
    }

    /// Revokes a grant this node's department gave; the next request no longer finds it. Withdrawing access needs
    /// no permit — a bundle that no longer lets the holder grant must not keep it from revoking — but it is logged.
    public func revokeGrant(_ principal: Principal, id: String) async throws -> API.GrantResponse {
        try await requireApprovedBundle()
        try checkRole(principal)
        let holder = try await requireHolder(principal, to: "revoke")
        try Self.checkIdentifier(id, "the grant id")
        guard let entry = await chain.grant(id: id), entry.grantor == holder else {
            throw ExchangeError(.notFound, "\(holder) gave no grant \(id); GET /v1/grants lists its grants")
        }
        guard !entry.revoked else { throw ExchangeError(.grantRevoked, "grant \(id) is already revoked") }
        let decision = EffectiveDecision(
            effect: .allow, policies: [], reason: "the grantor revokes its own grant", obligations: nil, grantID: entry.grant.grantID
        )
        let receipt = try await logAccess(
            principal, action: "revoke", category: entry.grant.category, recordKeys: [], purpose: entry.grant.purpose, decision: decision
        )
        let (hash, location) = try await submitOwn(.revoke, payload: Revocation(grantID: id).encoded)
        guard let revoked = await chain.grant(id: id) else { throw ExchangeError(.internalError, "the revoked grant is not in the ledger") }
        return API.GrantResponse(grant: view(revoked), transaction: Hex.encode(hash), height: location.height, receipt: receipt)
    }

    /// The grants the caller's department gave or received, as the chain records them (grant metadata names
    /// departments, categories and purposes only, so listing one's own grants needs no permit and is not logged).
    public func grants(_ principal: Principal) async throws -> API.GrantList {
        try await requireApprovedBundle()
        try checkRole(principal)
        return API.GrantList(grants: await chain.grants(involving: principal.department).map(view))
    }

    /// Grants are the data holder's: issued and revoked by its own department, on its own node.
    func requireHolder(_ principal: Principal, to verb: String) async throws -> String {
        guard let holder = await chain.department(ofNode: nodeID) else {
            throw ExchangeError(.notDataHolder, "this node (\(nodeID)) is not a member of the chain, so it holds no data to \(verb) grants on")
        }
        guard principal.department == holder else {
            throw ExchangeError(.notDataHolder, "grants on this node are \(holder)'s to \(verb); \(principal.department) does so on its own node")
        }
        return holder
    }

    func view(_ entry: GrantRegistry.Entry) -> API.GrantView {
        let grant = entry.grant
        return API.GrantView(
            grantId: grant.grantID, grantor: entry.grantor, grantee: grant.grantee, category: grant.category, purpose: grant.purpose,
            fields: grant.fields, expiresAtMs: grant.expiresAtMs, revoked: entry.revoked, live: !entry.revoked && grant.expiresAtMs > now()
        )
    }

    /// Submits one of this node's own transactions and waits until a committed block carries it.
    func submitOwn(_ kind: Transaction.Kind, payload: [UInt8]) async throws -> (hash: [UInt8], location: TransactionLocation) {
        try await submitter.submit(kind, payload: payload)
    }

    /// Decrypts a record and checks it — content, dimensions and aggregate ciphertexts — against the hash anchored on
    /// chain; any mismatch is tampering, located (position in the request, salted record key) and counted.
    func verifiedRecord(_ record: StoredRecord, position: Int) throws -> JSONValue {
        let plaintext: JSONValue
        do {
            plaintext = try vault.open(category: record.category, id: record.recordID, wrappedKey: record.wrappedKey, ciphertext: record.ciphertext)
        } catch {
            throw integrityFailure(record.category, recordKey: record.recordKey, position: position, table: "records",
                                   problem: "fails decryption (ciphertext or wrapped key altered)")
        }
        let hash = vault.recordHash(category: record.category, record: plaintext)
        guard constantTimeEquals(hash, record.recordHash) else {
            throw integrityFailure(record.category, recordKey: record.recordKey, position: position, table: "records",
                                   problem: "does not match its stored content hash")
        }
        guard let anchored = record.anchoredHash else {
            throw integrityFailure(record.category, recordKey: record.recordKey, position: position, table: "anchored_records",
                                   problem: "has no anchor on chain")
        }
        let expected = vault.expectedAnchor(
            version: record.anchorVersion, contentHash: hash, dimensionsJSON: record.dimensionsJSON, aggregates: record.aggregates
        )
        guard constantTimeEquals(expected, anchored) else {
            throw integrityFailure(record.category, recordKey: record.recordKey, position: position, table: "records/record_aggregates",
                                   problem: "does not match its anchored hash (content, dimensions or aggregate ciphertexts altered)")
        }
        return plaintext
    }

    /// Logs (critical, by salted record key — never the id or the content), counts and describes one integrity failure.
    func integrityFailure(
        _ category: String, recordKey: [UInt8], position: Int?, table: String, height: UInt64? = nil, problem: String
    ) -> ExchangeError {
        integrity.record()
        var metadata: Logger.Metadata = ["category": "\(category)", "record_key": "\(Hex.encode(recordKey))", "table": "\(table)"]
        if let height { metadata["anchor_height"] = "\(height)" }
        logger.critical("stored record \(problem): tampering", metadata: metadata)
        let which = position.map { "ids[\($0)]" } ?? "a stored record"
        return ExchangeError(.integrityFailure, """
            \(which) (record key \(Hex.encode(recordKey).prefix(16))…) \(problem); it was not released and the operator has been alerted
            """)
    }

    /// Projects to the permitted fields and applies each field's mask.
    func apply(_ obligations: Obligations, to record: JSONValue, category: RecordCategory) -> JSONValue {
        guard case .object(let members) = record else { return record }
        var out: [String: JSONValue] = [:]
        for (field, value) in members where obligations.fields?.contains(field) ?? true {
            guard let mask = obligations.masks[field] else {
                out[field] = value
                continue
            }
            out[field] = Self.mask(value, with: mask, field: field, vault: vault)
        }
        return .object(out)
    }

    static func mask(_ value: JSONValue, with mask: Obligations.Mask, field: String, vault: RecordVault) -> JSONValue {
        let text: String
        switch value {
        case .string(let s): text = s
        case .integer(let i): text = String(i)
        case .null: return .null
        default: text = value.canonicalString
        }
        switch mask {
        case .redact:
            return .null
        case .saltedHash:
            return .string(vault.maskHash(field: field, value: text))
        case .yearOnly:
            let year = text.prefix(4)
            return year.count == 4 && year.allSatisfy(\.isNumber) ? .string(String(year)) : .null
        case .lastCharacters(let n):
            let kept = text.suffix(n)
            return .string(String(repeating: "*", count: max(0, text.count - kept.count)) + kept)
        }
    }

    // MARK: Aggregate

    public func aggregate(_ principal: Principal, _ request: API.AggregateRequest) async throws -> API.AggregateResponse {
        try await requireApprovedBundle()
        try checkRole(principal)
        let category = try category(named: request.category)
        try Self.checkPurpose(request.purpose)
        guard category.aggregates.contains(request.field) else {
            throw ExchangeError(.unknownField, "\(request.field) is not an aggregate field of \(category.name); use one of \(category.aggregates)")
        }
        guard request.groupBy.allSatisfy(category.dimensions.contains), Set(request.groupBy).count == request.groupBy.count else {
            throw ExchangeError(.unknownField, "groupBy may only name dimensions of \(category.name), each once: \(category.dimensions)")
        }
        try checkKnownPurpose(request.purpose)
        let grant = await applicableGrant(principal, category: category.name, purpose: request.purpose)
        var decision = authorize(
            principal, action: "aggregate", resource: EntityUID(type: "Category", id: category.name), purpose: request.purpose, grant: grant
        )
        // A field projection (from @fields or a grant) bounds aggregates too: the summed field and the dimensions.
        if decision.effect == .allow, let fields = decision.obligations?.fields,
           let outside = ([request.field] + request.groupBy).first(where: { !fields.contains($0) }) {
            decision = .init(refusing: decision, because: "the permit does not cover the field \(outside)")
        }
        let receipt = try await logAccess(
            principal, action: "aggregate", category: category.name, recordKeys: [], purpose: request.purpose, decision: decision
        )
        guard decision.effect == .allow, let obligations = decision.obligations else { throw denied(decision, receipt) }

        try await requireDerived(.anchoredRecords)
        let rows = try await records.aggregateRows(category: category.name, field: request.field)
        struct Accumulator {
            var key: [String: JSONValue]
            var ciphertexts: [PaillierCiphertext] = []
            var citizens = Set<[UInt8]>()
        }
        var groups: [String: Accumulator] = [:]
        for row in rows {
            // Every input is checked against its record's anchor before it counts: a ciphertext copied from another
            // record, or a record moved to another group, changes what the anchor covers.
            guard let anchored = row.anchoredHash else {
                throw integrityFailure(category.name, recordKey: row.recordKey, position: nil, table: "anchored_records", problem: "has no anchor on chain")
            }
            guard row.anchorVersion >= 2 else {
                throw integrityFailure(category.name, recordKey: row.recordKey, position: nil, table: "records", height: row.anchoredHeight,
                                       problem: "was anchored before aggregate inputs were bound to anchors; re-anchor it before statistics use it")
            }
            let expected = vault.expectedAnchor(
                version: row.anchorVersion, contentHash: row.recordHash, dimensionsJSON: row.dimensionsJSON, aggregates: row.aggregates
            )
            guard constantTimeEquals(expected, anchored) else {
                throw integrityFailure(category.name, recordKey: row.recordKey, position: nil, table: "records/record_aggregates",
                                       height: row.anchoredHeight, problem: "has dimensions or aggregate ciphertexts that do not match its anchor")
            }
            let dimensions = (try? JSONValue.parse(Data(row.dimensionsJSON.utf8)))?.objectValue ?? [:]
            var key: [String: JSONValue] = [:]
            for field in request.groupBy { key[field] = dimensions[field] ?? .null }
            let groupID = JSONValue.object(key).canonicalString
            groups[groupID, default: Accumulator(key: key)].ciphertexts.append(PaillierCiphertext(serialized: row.ciphertext))
            groups[groupID]!.citizens.insert(row.citizenKey)
        }
        var result: [API.AggregateGroup] = []
        for groupID in groups.keys.sorted() {
            let group = groups[groupID]!
            // A group below the minimum cohort is never decrypted at all.
            guard group.citizens.count >= obligations.minimumCohort else {
                result.append(API.AggregateGroup(key: group.key, cohort: nil, count: nil, sum: nil, mean: nil, suppressed: true))
                continue
            }
            let total = try paillier.decrypt(paillier.publicKey.sum(group.ciphertexts))
            guard let sum = total.intValue else { throw ExchangeError(.internalError, "aggregate exceeds 64 bits") }
            result.append(API.AggregateGroup(
                key: group.key, cohort: group.citizens.count, count: group.ciphertexts.count, sum: Int64(sum),
                mean: Double(sum) / Double(group.ciphertexts.count), suppressed: false
            ))
        }
        return API.AggregateResponse(
            category: category.name, field: request.field, groupBy: request.groupBy, minimumCohort: obligations.minimumCohort,
            policies: decision.policies, groups: result, grant: decision.grantID, receipt: receipt
        )
    }

    // MARK: Audit

    public func auditEvents(_ principal: Principal, after cursor: String?, limit: Int) async throws -> API.AuditPage {
        try await requireApprovedBundle()
        try checkRole(principal)
        guard (1...Self.auditPageMax).contains(limit) else { throw ExchangeError(.invalidRequest, "limit must be 1 to \(Self.auditPageMax)") }
        var afterHeight: UInt64 = 0
        var afterEvent = ""
        if let cursor {
            let parts = cursor.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let height = Bounded.height.parseUnsigned(parts[0]) else {
                throw ExchangeError(.invalidRequest, "after must be a cursor returned as 'next' by a previous page")
            }
            afterHeight = height
            afterEvent = String(parts[1])
            try Self.checkIdentifier(afterEvent, "the event id in after")
        }
        let decision = authorize(principal, action: "audit", resource: EntityUID(type: "AccessLog", id: "chain"), purpose: "audit")
        let receipt = try await logAccess(principal, action: "audit", category: "access_log", recordKeys: [], purpose: "audit", decision: decision)
        guard decision.effect == .allow else { throw denied(decision, receipt) }
        try await requireDerived(.accessEvents)
        let rows = try await chainStore.accessEvents(afterHeight: afterHeight, afterEventID: afterEvent, limit: limit)
        let events = rows.map(Self.auditEvent)
        let next = rows.count == limit ? rows.last.map { "\($0.height):\($0.eventID)" } : nil
        return API.AuditPage(events: events, next: next, receipt: receipt)
    }

    public func proof(_ principal: Principal, eventID: String) async throws -> API.ProofResponse {
        try await requireApprovedBundle()
        try checkRole(principal)
        try Self.checkIdentifier(eventID, "the event id")
        // A regulator's reads are accesses too: logged, allowed or denied, before anything is returned.
        let decision = authorize(principal, action: "audit", resource: EntityUID(type: "AccessLog", id: "chain"), purpose: "audit")
        let receipt = try await logAccess(principal, action: "audit", category: "access_log", recordKeys: [], purpose: "audit", decision: decision)
        guard decision.effect == .allow else { throw denied(decision, receipt) }
        try await requireDerived(.accessEvents)
        guard let row = try await chainStore.accessEvent(id: eventID), let proof = try await chain.proof(for: row.transactionHash) else {
            throw ExchangeError(.notFound, "no committed access event \(eventID)")
        }
        return API.ProofResponse(eventId: eventID, height: row.height, proof: proof, receipt: receipt)
    }

    public static let chainBlocksMax = 256

    /// Committed blocks from `from` on, for observers (regulators) that verify and keep the chain themselves.
    public func chainBlocks(_ principal: Principal, from: UInt64, limit: Int) async throws -> API.ChainBlocks {
        try await requireApprovedBundle()
        try checkRole(principal)
        guard from >= 1 else { throw ExchangeError(.invalidRequest, "from must be a height ≥ 1") }
        guard (1...Self.chainBlocksMax).contains(limit) else { throw ExchangeError(.invalidRequest, "limit must be 1 to \(Self.chainBlocksMax)") }
        let decision = authorize(principal, action: "audit", resource: EntityUID(type: "AccessLog", id: "chain"), purpose: "audit")
        let receipt = try await logAccess(principal, action: "audit", category: "access_log", recordKeys: [], purpose: "audit", decision: decision)
        guard decision.effect == .allow else { throw denied(decision, receipt) }
        let blocks = try await chainStore.blocks(from: from, limit: limit)
        var commitment: InclusionProof.Commitment?
        if let last = blocks.last { commitment = try await chain.commitment(atHeight: last.header.height) }
        return API.ChainBlocks(blocks: blocks.map(API.ChainBlock.init), commitment: commitment, receipt: receipt)
    }

    static func auditEvent(_ row: ChainStore.AccessEventRow) -> API.AuditEvent {
        API.AuditEvent(
            eventId: row.eventID, height: row.height, transaction: Hex.encode(row.transactionHash), requester: row.requester,
            action: row.action, category: row.category, purpose: row.purpose, decision: row.decision, policies: row.policies,
            recordCount: row.recordCount, policyBundle: Hex.encode(row.bundleHash), timestampMs: row.timestampMs, role: row.role,
            grant: row.grantID
        )
    }

    // MARK: Policy and logging

    struct EffectiveDecision: Sendable {
        let effect: AccessEvent.Decision
        let policies: [String]
        let reason: String
        let obligations: Obligations?
        /// The grant an allow relied on (a determining permit read `context.grant`).
        var grantID: String?

        init(_ decision: Decision, grant: GrantRegistry.Entry?) {
            effect = decision.effect == .allow ? .allow : .deny
            policies = decision.determiningPolicies
            obligations = decision.obligations
            grantID = decision.reliesOnGrant ? grant?.grant.grantID : nil
            reason = decision.reason + (grantID.map { " under grant \($0)" } ?? "")
        }

        init(allowing policies: [String], obligations: Obligations, grantID: String?) {
            effect = .allow
            self.policies = policies
            reason = "permitted by \(policies.joined(separator: ", "))" + (grantID.map { " under grant \($0)" } ?? "")
            self.obligations = obligations
            self.grantID = grantID
        }

        init(effect: AccessEvent.Decision, policies: [String], reason: String, obligations: Obligations?, grantID: String?) {
            self.effect = effect
            self.policies = policies
            self.reason = reason
            self.obligations = obligations
            self.grantID = grantID
        }

        /// The same decision, its reason saying which part of the request it is about.
        func explained(_ subject: String) -> EffectiveDecision {
            EffectiveDecision(effect: effect, policies: policies, reason: "\(subject): \(reason)", obligations: obligations, grantID: grantID)
        }

        init(refusing decision: EffectiveDecision, because reason: String) {
            effect = .deny
            policies = decision.policies
            self.reason = "\(reason) (\(decision.policies.joined(separator: ", ")))"
            obligations = nil
            grantID = decision.grantID
        }
    }

    func authorize(_ principal: Principal, action: String, category: String, purpose: String) -> EffectiveDecision {
        authorize(principal, action: action, resource: EntityUID(type: "Category", id: category), purpose: purpose)
    }

    /// One decision. With a grant, the grant is the entity `Grant::"<id>"` in the store and `context.grant` names it;
    /// a permit that reads it is bound by its fields and expiry.
    func authorize(
        _ principal: Principal, action: String, resource: EntityUID, purpose: String, entities: EntityStore? = nil, grant: GrantRegistry.Entry? = nil
    ) -> EffectiveDecision {
        var context: [String: Value] = ["purpose": .entity(EntityUID(type: "Purpose", id: purpose))]
        var store = entities ?? self.entities
        if let grant {
            let entity = grantEntity(grant)
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

    /// A read is decided record by record: each requested record is the resource `Record::"<salted record key>"`,
    /// in its category, with the purposes its citizen has consented to on chain (`consents`, a set of Purpose
    /// entities), so a policy can require consent (`context.purpose in resource.consents`); `resource.citizen` is the
    /// citizen, `Citizen::"<salted citizen key>"`, with the same `consents`. The request is allowed only
    /// if every record is; the determining policies are all those that allowed one, and their obligations combine
    /// least-privilege. A denial names the first record refused, by its position in the request.
    func authorizeRecords(_ principal: Principal, category: String, ids: [String], purpose: String, grant: GrantRegistry.Entry?) async -> EffectiveDecision {
        let consents = await chain.consentedPurposes(ids.map(vault.citizenKey))
        var store = entities
        if let grant { store.insert(grantEntity(grant)) }
        var resources: [EntityUID] = []
        for (id, purposes) in zip(ids, consents) {
            let uid = EntityUID(type: "Record", id: Hex.encode(vault.recordKey(category: category, id: id)))
            let consented = Value.set(purposes.map { .entity(EntityUID(type: "Purpose", id: $0)) })
            let citizen = EntityUID(type: "Citizen", id: Hex.encode(vault.citizenKey(id)))
            store.insert(Entity(uid: citizen, attributes: ["consents": consented]))
            store.insert(Entity(
                uid: uid, attributes: ["consents": consented, "citizen": .entity(citizen)], parents: [EntityUID(type: "Category", id: category)]
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

    /// The node's standing entities: the bundle's (purposes, groups, roles, action groups), every registered
    /// department with its groups, and every record category with its fields, dimensions and aggregate fields (a
    /// category the bundle also declares keeps the bundle's parents).
    static func entityStore(policies: PolicyBundle, departments: DepartmentDirectory, categories: [String: RecordCategory]) -> EntityStore {
        var store = policies.entities
        for category in categories.values {
            let uid = EntityUID(type: "Category", id: category.name)
            func names(_ list: [String]) -> Value { .set(list.sorted().map { .string($0) }) }
            store.insert(Entity(
                uid: uid,
                attributes: ["fields": names(category.fields), "dimensions": names(category.dimensions), "aggregates": names(category.aggregates)],
                parents: store[uid]?.parents ?? []
            ))
        }
        for department in departments.departments.values {
            store.insert(Entity(
                uid: EntityUID(type: "Department", id: department.id), attributes: ["id": .string(department.id)],
                parents: (department.groups ?? []).sorted().map { EntityUID(type: "Group", id: $0) }
            ))
        }
        return store
    }

    /// A request made in a role must name one the bundle declares for the department: `Role::"<department>/<role>"`
    /// in entities.json, a child of `Department::"<department>"`.
    func checkRole(_ principal: Principal) throws {
        guard principal.role != nil else { return }
        let uid = principal.entity
        guard entities[uid]?.parents.contains(EntityUID(type: "Department", id: principal.department)) == true else {
            let declared = entities.entities.keys.filter { $0.type == "Role" && $0.id.hasPrefix(principal.department + "/") }
                .map { String($0.id.dropFirst(principal.department.count + 1)) }.sorted()
            throw ExchangeError(.unknownRole, """
                role '\(principal.role!)' is not declared for \(principal.department) in the policy bundle (Role::"\(uid.id)" in \
                entities.json); \(declared.isEmpty ? "it declares no roles for it: send no DG-Role" : "declared: " + declared.joined(separator: ", "))
                """)
        }
    }

    /// The grant a request may rely on: recorded on chain by this node's department (the holder of the data), to the
    /// requester's department, for the category, for the request's purpose or one above it in the hierarchy, neither
    /// revoked nor expired. Of several, the one for the most specific purpose, then the latest expiry, then the
    /// smallest id. Whether it counts is for the policies to say (see `granted-access` in Policies/demo.cedar).
    func applicableGrant(_ principal: Principal, category: String, purpose: String) async -> GrantRegistry.Entry? {
        let live = await chain.liveGrants(byDepartmentOf: nodeID, grantee: principal.department, category: category, atMs: now())
        guard !live.isEmpty else { return nil }
        let requested = EntityUID(type: "Purpose", id: purpose)
        func depth(_ purpose: String) -> Int {
            let uid = EntityUID(type: "Purpose", id: purpose)
            return policies.purposes.filter { entities.isDescendant(uid, of: EntityUID(type: "Purpose", id: $0)) }.count
        }
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
    func grantEntity(_ entry: GrantRegistry.Entry) -> Entity {
        let grant = entry.grant
        return Entity(uid: EntityUID(type: "Grant", id: grant.grantID), attributes: [
            "grantor": .entity(EntityUID(type: "Department", id: entry.grantor)),
            "grantee": .entity(EntityUID(type: "Department", id: grant.grantee)),
            "category": .entity(EntityUID(type: "Category", id: grant.category)),
            "purpose": .entity(EntityUID(type: "Purpose", id: grant.purpose)),
            "fields": .set(grant.fields.map { .string($0) }),
            "expiresAt": .long(grant.expiresAtMs),
        ])
    }

    /// When the bundle declares a purpose hierarchy, a request's purpose must be one of its purposes (checked after the
    /// request's shape, so malformed requests still get 400).
    func checkKnownPurpose(_ purpose: String) throws {
        guard policies.purposes.isEmpty || policies.purposes.contains(purpose) else {
            throw ExchangeError(.unknownPurpose, "purpose '\(purpose)' is not in the purpose hierarchy of the policy bundle; declare one of: \(policies.purposes.sorted().joined(separator: ", "))")
        }
    }

    /// Writes the access event to the durable outbox (batched with concurrent ones) and waits until it is in a
    /// committed block.
    func logAccess(
        _ principal: Principal, action: String, category: String, recordKeys: [[UInt8]], purpose: String, decision: EffectiveDecision
    ) async throws -> API.Receipt {
        let event = AccessEvent(
            eventID: UUID().uuidString.lowercased(), requester: principal.department, action: action, category: category,
            recordKeys: recordKeys, purpose: purpose, policyBundleHash: policyBundleHash, decision: decision.effect,
            determiningPolicies: decision.policies, requestDigest: principal.requestDigest, timestampMs: now(), role: principal.role,
            grantID: decision.grantID
        )
        let receipt = try await accessLog.log(event)
        return API.Receipt(
            eventId: event.eventID, transaction: Hex.encode(receipt.transactionHash), height: receipt.location.height,
            index: receipt.location.index
        )
    }

    /// Data of a derived table that differs from the chain is not served (503 naming the reason).
    func requireDerived(_ table: DerivedRows.Table) async throws {
        if let reason = await chain.derivedFault(table) { throw ExchangeError(.derivedStateMismatch, reason) }
    }

    func denied(_ decision: EffectiveDecision, _ receipt: API.Receipt) -> ExchangeError {
        ExchangeError(.accessDenied, "access denied: \(decision.reason)", eventID: receipt.eventId)
    }

    func category(named name: String) throws -> RecordCategory {
        guard let category = categories[name] else {
            throw ExchangeError(.unknownCategory, "unknown record category '\(name)'; known: \(categories.keys.sorted().joined(separator: ", "))")
        }
        return category
    }

    /// Why a record, citizen, department, grant or event id taken from a request is unusable, or nil: it must be 1 to
    /// `identifierLengthMax` characters, none of them a control character (PostgreSQL text cannot hold U+0000, and no
    /// identifier needs one; such an id used to reach the database and come back as a 500).
    static func identifierProblem(_ id: String) -> String? {
        guard !id.isEmpty, id.count <= identifierLengthMax else { return "must be 1 to \(identifierLengthMax) characters" }
        if let control = id.unicodeScalars.first(where: { $0.properties.generalCategory == .control }) {
            return "must not contain control characters (found U+\(String(format: "%04X", control.value)))"
        }
        return nil
    }

    static func checkIdentifier(_ id: String, _ what: String) throws {
        if let problem = identifierProblem(id) { throw ExchangeError(.invalidRequest, "\(what) \(problem)") }
    }

    static func checkPurpose(_ purpose: String) throws {
        let valid = (1...64).contains(purpose.utf8.count)
            && purpose.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5f }
        guard valid else { throw ExchangeError(.invalidRequest, "purpose must be 1 to 64 characters of a-z, 0-9 and _") }
    }
}

/// Counts integrity failures for /v1/health and the operator.
public final class IntegrityCounter: Sendable {
    let count = NIOLockedValueBox(0)

    func record() { count.withLockedValue { $0 += 1 } }
    public var failures: Int { count.withLockedValue { $0 } }
}

/// Runs one piece of work at a time: a caller arriving while it runs waits for that run instead of starting another.
actor SingleFlight {
    private var running: Task<Void, Never>?

    func run(_ work: @escaping @Sendable () async -> Void) async {
        if let running { return await running.value }
        let task = Task { await work() }
        running = task
        await task.value
        running = nil
    }
}
