import Foundation
import GatewayPolicy
import GatewayTestSupport
import Testing

/// Randomly generated policies, entities and requests, decided by our engine and by the reference Cedar engine
/// (`cedarpy`). Every request must get the same decision, the same determining policies and the same erroring
/// policies. The generator is seeded (`DATAGATEWAY_CEDAR_SEED` replays one seed); a mismatch prints the seed and the
/// minimal case: the one policy, request and entities on which the two engines disagree.
@Suite struct CedarRandomDifferentialTests {
    static let rounds = 48
    static let policiesPerRound = 24
    static let requestsPerRound = 64

    @Test func randomPoliciesDecideAsTheReferenceEngine() async throws {
        let baseSeed = ProcessInfo.processInfo.environment["DATAGATEWAY_CEDAR_SEED"].flatMap(UInt64.init) ?? 20_261_126
        var rounds: [Round] = []
        for index in 0..<Self.rounds {
            rounds.append(try Round(seed: baseSeed &+ UInt64(index)))
        }
        let reference = try await CedarOracle.decide(rounds.map(\.oracleInput))
        #expect(reference.count == rounds.count)
        var compared = 0
        var allowed = 0
        var errored = 0
        var mismatch: (round: Round, request: Int)?
        for (round, answers) in zip(rounds, reference) {
            #expect(answers.count == round.requests.count)
            for (index, theirs) in answers.enumerated() {
                let mine = round.ours[index]
                compared += 1
                if mine.allow { allowed += 1 }
                if !mine.errors.isEmpty { errored += 1 }
                if mine != theirs, mismatch == nil { mismatch = (round, index) }
            }
        }
        if let (round, index) = mismatch {
            let minimal = try await round.minimalCase(request: index)
            Issue.record(
                "seed \(round.seed), request \(index): ours \(round.ours[index]), cedarpy \(reference[rounds.firstIndex { $0.seed == round.seed }!][index])\n\(minimal)"
            )
        }
        print(
            "cedar random differential: seeds \(baseSeed)..<\(baseSeed &+ UInt64(Self.rounds)), \(compared) requests, \(allowed) allowed, \(errored) with errors"
        )
        #expect(compared == Self.rounds * Self.requestsPerRound)
        // The generator must exercise all three outcomes, or the comparison proves little.
        #expect(allowed > compared / 20 && compared - allowed > compared / 20, "allowed \(allowed) of \(compared)")
        #expect(errored > compared / 50, "errored \(errored) of \(compared)")
    }

    /// Explanations print conditions back as Cedar: printing a parsed condition and parsing it again must give the same
    /// text (so parenthesisation keeps precedence), over every condition the generator writes.
    @Test func printedConditionsParseBackToThemselves() throws {
        var checked = 0
        for seed in UInt64(1)...20 {
            let round = try Round(seed: seed)
            for policy in try PolicySet(sources: [("r.cedar", round.policyText)]).policies {
                for condition in policy.conditions {
                    let printed = condition.expression.description
                    let reparsed = try PolicySet(sources: [("p.cedar", "permit (principal, action, resource) when { \(printed) };")])
                    #expect(reparsed.policies[0].conditions[0].expression.description == printed, "\(condition.text)")
                    // And it means the same: every request of the round decides alike under the original text.
                    let original = try PolicySet(sources: [("o.cedar", "permit (principal, action, resource) when { \(condition.text) };")])
                    let store = EntityStore(round.entities)
                    for request in round.requests.prefix(16) {
                        let a = Round.answer(original.authorize(request, entities: store))
                        let b = Round.answer(reparsed.authorize(request, entities: store))
                        #expect(a == b, "\(condition.text) printed as \(printed)")
                    }
                    checked += 1
                }
            }
        }
        #expect(checked > 200)
    }

    /// Parser fuzzing over every construct the generator writes: random policies, cut, spliced and mutated byte by
    /// byte, must parse or fail with a located error — never crash, never hang.
    @Test func mutatedRandomPoliciesNeverCrashTheParser() throws {
        var rng = SeededGenerator(seed: 99)
        let alphabet = Array("(){}[];,.:=!<>&|\"@-+*\\ \nabcxyz019_?".unicodeScalars)
        var located = 0
        var parsed = 0
        for seed in UInt64(1)...30 {
            let round = try Round(seed: seed)
            for text in round.policyTexts {
                var scalars = Array(text.unicodeScalars)
                for _ in 0..<Int.random(in: 1...8, using: &rng) where !scalars.isEmpty {
                    let position = Int.random(in: 0..<scalars.count, using: &rng)
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0: scalars.remove(at: position)
                    case 1: scalars.insert(alphabet.randomElement(using: &rng)!, at: position)
                    case 2: scalars[position] = alphabet.randomElement(using: &rng)!
                    default: scalars = Array(scalars[..<position]) + Array(scalars[Int.random(in: position..<scalars.count, using: &rng)...])
                    }
                }
                var mutated = ""
                mutated.unicodeScalars.append(contentsOf: scalars)
                do {
                    _ = try PolicySet(sources: [("fuzz.cedar", mutated)])
                    parsed += 1
                } catch let error as PolicyError {
                    #expect(error.location?.file == "fuzz.cedar", "\(error)")
                    located += 1
                }
            }
        }
        #expect(located > 100 && parsed > 10, "located \(located), parsed \(parsed)")
    }

    @Test func theGeneratorIsDeterministic() throws {
        let a = try Round(seed: 7)
        let b = try Round(seed: 7)
        #expect(a.policyText == b.policyText)
        #expect(a.ours == b.ours)
    }
}

/// What one engine said about one request: the decision, the determining policies and the policies that erred.
struct Answer: Equatable, Decodable, CustomStringConvertible {
    let allow: Bool
    let policies: [String]
    let errors: [String]
    var description: String { "\(allow ? "allow" : "deny") by \(policies), errors in \(errors)" }
}

enum CedarOracle {
    struct RoundInput: Encodable {
        let policies: String
        let entities: [JSONValue]
        let requests: [JSONValue]
    }

    /// Runs every round through cedarpy in one process.
    static func decide(_ rounds: [RoundInput]) async throws -> [[Answer]] {
        let dir = try TestPaths.temporaryDirectory("cedar_random")
        let input = dir.appendingPathComponent("rounds.json")
        try JSONEncoder().encode(rounds).write(to: input)
        let result = try await runProcess(
            TestPaths.python,
            [
                "-c",
                """
                import json, re, sys, cedarpy
                pattern = re.compile(r"policy `([^`]*)`")
                out = []
                for data in json.load(open(sys.argv[1])):
                    results = cedarpy.is_authorized_batch(data["requests"], data["policies"], data["entities"])
                    answers = []
                    for r in results:
                        errors = sorted(set(m.group(1) for e in r.diagnostics.errors for m in [pattern.search(e)] if m))
                        answers.append({"allow": r.allowed, "policies": sorted(r.diagnostics.reasons), "errors": errors})
                    out.append(answers)
                print(json.dumps(out))
                """, input.path,
            ])
        guard result.status == 0 else { throw OracleFailure(message: result.stderr) }
        return try JSONDecoder().decode([[Answer]].self, from: Data(result.stdout.utf8))
    }

    struct OracleFailure: Error, CustomStringConvertible {
        let message: String
        var description: String { "cedarpy failed: \(message)" }
    }
}

/// A JSON value, for building cedarpy's input.
indirect enum JSONValue: Encodable {
    case bool(Bool), number(Int64), string(String), array([JSONValue]), object([(String, JSONValue)])

    func encode(to encoder: Encoder) throws {
        switch self {
        case .bool(let b): var c = encoder.singleValueContainer(); try c.encode(b)
        case .number(let n): var c = encoder.singleValueContainer(); try c.encode(n)
        case .string(let s): var c = encoder.singleValueContainer(); try c.encode(s)
        case .array(let items):
            var c = encoder.unkeyedContainer()
            for item in items { try c.encode(item) }
        case .object(let members):
            var c = encoder.container(keyedBy: Key.self)
            for (key, value) in members { try c.encode(value, forKey: Key(key)) }
        }
    }

    struct Key: CodingKey {
        let stringValue: String
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    static func uid(_ uid: EntityUID) -> JSONValue { .object([("__entity", .object([("type", .string(uid.type)), ("id", .string(uid.id))]))]) }

    init(_ value: Value) {
        switch value {
        case .bool(let b): self = .bool(b)
        case .long(let l): self = .number(l)
        case .string(let s): self = .string(s)
        case .entity(let e): self = .uid(e)
        case .set(let items): self = .array(items.map(JSONValue.init))
        case .record(let members): self = .object(members.keys.sorted().map { ($0, JSONValue(members[$0]!)) })
        }
    }
}

/// SplitMix64: small, seedable, the same sequence on every platform.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One round: a random entity store, a random policy set and random requests, with our engine's answers.
struct Round {
    let seed: UInt64
    let policyTexts: [String]
    let entities: [Entity]
    let requests: [AuthorizationRequest]
    let ours: [Answer]

    var policyText: String { policyTexts.joined(separator: "\n") }

    init(seed: UInt64) throws {
        self.seed = seed
        var generator = PolicyGenerator(rng: SeededGenerator(seed: seed))
        entities = generator.entities()
        policyTexts = (0..<CedarRandomDifferentialTests.policiesPerRound).map { _ in generator.policy() }
        requests = (0..<CedarRandomDifferentialTests.requestsPerRound).map { _ in generator.request() }
        let set = try PolicySet(sources: [("random-\(seed).cedar", policyTexts.joined(separator: "\n"))])
        let store = EntityStore(entities)
        ours = requests.map { request in Round.answer(set.authorize(request, entities: store)) }
    }

    static func answer(_ decision: Decision) -> Answer {
        Answer(
            allow: decision.effect == .allow, policies: decision.determiningPolicies.sorted(),
            errors: Array(Set(decision.errors.map(\.policy))).sorted())
    }

    static func requestJSON(_ request: AuthorizationRequest) -> JSONValue {
        .object([
            ("principal", .string(request.principal.description)), ("action", .string(request.action.description)),
            ("resource", .string(request.resource.description)),
            ("context", JSONValue(.record(request.context))),
        ])
    }

    static func entityJSON(_ entity: Entity) -> JSONValue {
        .object([
            ("uid", .uid(entity.uid)),
            ("attrs", JSONValue(.record(entity.attributes))),
            ("parents", .array(entity.parents.map(JSONValue.uid))),
        ])
    }

    var oracleInput: CedarOracle.RoundInput {
        CedarOracle.RoundInput(policies: policyText, entities: entities.map(Round.entityJSON), requests: requests.map(Round.requestJSON))
    }

    /// Each policy alone, on the mismatching request: the first policy the engines disagree on is the minimal case.
    func minimalCase(request index: Int) async throws -> String {
        let request = requests[index]
        let singles = policyTexts.map {
            CedarOracle.RoundInput(policies: $0, entities: entities.map(Round.entityJSON), requests: [Round.requestJSON(request)])
        }
        let reference = try await CedarOracle.decide(singles)
        let store = EntityStore(entities)
        for (text, theirs) in zip(policyTexts, reference) {
            let mine = Round.answer(try PolicySet(sources: [("minimal.cedar", text)]).authorize(request, entities: store))
            if [mine] != theirs {
                let entityLines = entities.map { "  \($0.uid) attrs \(Value.record($0.attributes)) parents \($0.parents)" }.joined(separator: "\n")
                return """
                    minimal case (seed \(seed)):
                    policy: \(text)
                    request: \(request.principal), \(request.action), \(request.resource), context \(Value.record(request.context))
                    ours: \(mine), cedarpy: \(theirs.first.map(String.init(describing:)) ?? "none")
                    entities:
                    \(entityLines)
                    """
            }
        }
        return "no single policy disagrees on its own (seed \(seed)): the set as a whole differs"
    }
}

/// Generates mostly well-typed Cedar over a small vocabulary, with some ill-typed and dangling references on purpose.
struct PolicyGenerator {
    var rng: SeededGenerator
    let departments = (0..<5).map { EntityUID(type: "Department", id: "d\($0)") }
    let groups = (0..<3).map { EntityUID(type: "Group", id: "g\($0)") }
    let categories = (0..<4).map { EntityUID(type: "Category", id: "c\($0)") }
    let actions = ["read", "aggregate", "publish", "audit"].map { EntityUID(type: "Action", id: $0) }
    let actionGroup = EntityUID(type: "Action", id: "reading")
    let ghost = EntityUID(type: "Department", id: "ghost")
    let words = ["a", "ab", "benefit", "health", "x*y", "", "stat"]

    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &rng)] }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }

    mutating func long() -> Int64 {
        switch int(0...9) {
        case 0: return Int64.max - Int64(int(0...3))
        case 1: return Int64.min + Int64(int(0...3))
        case 2: return Int64(int(-100...100)) * 1_000_000_000_000
        default: return Int64(int(-3...12))
        }
    }

    mutating func stringSet() -> Value { .set((0..<int(0...3)).map { _ in .string(pick(words)) }) }

    mutating func entities() -> [Entity] {
        var out: [Entity] = []
        for (index, group) in groups.enumerated() {
            let parents = groups[(index + 1)...].filter { _ in chance(0.4) }
            out.append(Entity(uid: group, attributes: chance(0.5) ? ["level": .long(long())] : [:], parents: Array(parents)))
        }
        for department in departments {
            var attributes: [String: Value] = [:]
            if chance(0.85) { attributes["level"] = .long(long()) }
            if chance(0.85) { attributes["name"] = .string(pick(words)) }
            if chance(0.85) { attributes["active"] = .bool(chance(0.6)) }
            if chance(0.8) { attributes["tags"] = stringSet() }
            if chance(0.7) { attributes["info"] = .record(["n": .long(long()), "s": .string(pick(words))]) }
            if chance(0.6) { attributes["boss"] = .entity(chance(0.8) ? pick(departments) : ghost) }
            out.append(Entity(uid: department, attributes: attributes, parents: groups.filter { _ in chance(0.35) }))
        }
        for category in categories {
            var attributes: [String: Value] = [:]
            if chance(0.8) { attributes["owner"] = .entity(pick(departments)) }
            if chance(0.85) { attributes["sensitivity"] = .long(long()) }
            if chance(0.8) { attributes["fields"] = stringSet() }
            out.append(Entity(uid: category, attributes: attributes, parents: []))
        }
        out.append(Entity(uid: actionGroup))
        for action in actions {
            out.append(Entity(uid: action, parents: action.id == "read" || action.id == "aggregate" ? [actionGroup] : []))
        }
        return out
    }

    mutating func request() -> AuthorizationRequest {
        var context: [String: Value] = [:]
        if chance(0.85) { context["purpose"] = .string(pick(words)) }
        if chance(0.8) { context["rows"] = .long(long()) }
        if chance(0.7) { context["flag"] = .bool(chance(0.5)) }
        if chance(0.6) { context["tags"] = stringSet() }
        return AuthorizationRequest(
            principal: chance(0.9) ? pick(departments) : ghost, action: pick(actions),
            resource: chance(0.8) ? pick(categories) : pick(departments), context: context)
    }

    // MARK: Policies

    func literal(_ uid: EntityUID) -> String { #"\#(uid.type)::"\#(uid.id)""# }

    mutating func policy() -> String {
        var text = ""
        if chance(0.2) { text += #"@note("random") "# }
        text += chance(0.65) ? "permit (" : "forbid ("
        switch int(0...5) {
        case 0: text += "principal == \(literal(chance(0.9) ? pick(departments) : ghost))"
        case 1: text += "principal in \(literal(chance(0.7) ? pick(groups) : pick(departments)))"
        case 2: text += chance(0.8) ? "principal is Department" : "principal is Group"
        case 3: text += "principal is Department in \(literal(pick(groups)))"
        default: text += "principal"
        }
        text += ", "
        switch int(0...4) {
        case 0: text += "action == \(literal(pick(actions)))"
        case 1: text += "action in [" + (0..<int(1...3)).map { _ in literal(pick(actions)) }.joined(separator: ", ") + "]"
        case 2: text += "action in \(literal(actionGroup))"
        default: text += "action"
        }
        text += ", "
        switch int(0...4) {
        case 0: text += "resource == \(literal(pick(categories)))"
        case 1: text += "resource is Category"
        case 2: text += "resource in \(literal(pick(categories)))"
        default: text += "resource"
        }
        text += ")"
        for _ in 0..<int(0...2) {
            text += chance(0.75) ? " when { " : " unless { "
            text += bool(depth: 3) + " }"
        }
        return text + ";"
    }

    enum Kind: CaseIterable { case bool, long, string, entity, set, record }

    /// An expression of a random type (used where the generator deliberately mis-types).
    mutating func any(depth: Int) -> String { expression(pick(Kind.allCases), depth: depth) }

    /// Mostly `expected`, occasionally something else, so that type errors are exercised too.
    mutating func typed(_ expected: Kind, depth: Int) -> String {
        chance(0.06) ? any(depth: depth) : expression(expected, depth: depth)
    }

    mutating func expression(_ kind: Kind, depth: Int) -> String {
        switch kind {
        case .bool: return bool(depth: depth)
        case .long: return long(depth: depth)
        case .string: return string(depth: depth)
        case .entity: return entity(depth: depth)
        case .set: return set(depth: depth)
        case .record: return record(depth: depth)
        }
    }

    mutating func bool(depth: Int) -> String {
        let d = depth - 1
        if depth <= 0 {
            return pick(["true", "false", "context.flag", "principal.active", "(context has flag)"])
        }
        switch int(0...19) {
        case 0: return pick(["true", "false"])
        case 1: return "context.flag"
        case 2: return "principal.active"
        case 3: return "(\(any(depth: d)) == \(any(depth: d)))"
        case 4: return "(\(typed(.long, depth: d)) \(pick(["<", "<=", ">", ">=", "==", "!="])) \(typed(.long, depth: d)))"
        case 5:
            return
                "(\(pick(["principal", "resource", "context", "principal.info", "principal.boss"])) has \(pick(["level", "name", "active", "tags", "info", "boss", "owner", "fields", "purpose", "rows", "flag", "n", "s"])))"
        case 6: return "(\(typed(.string, depth: d)) like \"\(pick(["*", "a*", "*b", "x\\*y", "be*fit", "", "*a*", "stat"]))\")"
        case 7:
            return
                "(\(typed(.entity, depth: d)) in \(chance(0.6) ? typed(.entity, depth: d) : "[" + (0..<int(0...3)).map { _ in typed(.entity, depth: d) }.joined(separator: ", ") + "]"))"
        case 8: return "(\(typed(.entity, depth: d)) is \(pick(["Department", "Group", "Category", "Action"])))"
        case 9: return "(\(typed(.entity, depth: d)) is \(pick(["Department", "Category"])) in \(typed(.entity, depth: d)))"
        case 10: return "(!\(typed(.bool, depth: d)))"
        case 11: return "(\(typed(.bool, depth: d)) && \(typed(.bool, depth: d)))"
        case 12: return "(\(typed(.bool, depth: d)) || \(typed(.bool, depth: d)))"
        case 13: return "(if \(typed(.bool, depth: d)) then \(typed(.bool, depth: d)) else \(typed(.bool, depth: d)))"
        case 14: return "(\(typed(.set, depth: d)).contains(\(any(depth: d))))"
        case 15: return "(\(typed(.set, depth: d)).containsAll(\(typed(.set, depth: d))))"
        case 16: return "(\(typed(.set, depth: d)).containsAny(\(typed(.set, depth: d))))"
        case 17: return "(principal in \(literal(pick(groups))))"
        case 18: return "(context.purpose == \"\(pick(words))\")"
        default: return "(\(typed(.record, depth: d)) has \(pick(["n", "s", "purpose"])))"
        }
    }

    /// A Long literal, negative ones parenthesised (Cedar reads `-5.n` as `-(5.n)`).
    mutating func longLiteral() -> String {
        let value = long()
        return value < 0 ? "(\(value))" : "\(value)"
    }

    mutating func long(depth: Int) -> String {
        let d = depth - 1
        if depth <= 0 { return chance(0.5) ? longLiteral() : pick(["principal.level", "context.rows", "resource.sensitivity"]) }
        switch int(0...9) {
        case 0, 1: return longLiteral()
        case 2: return pick(["principal.level", "context.rows", "resource.sensitivity", "principal.info.n", "principal.boss.level"])
        case 3: return "(\(typed(.long, depth: d)) + \(typed(.long, depth: d)))"
        case 4: return "(\(typed(.long, depth: d)) - \(typed(.long, depth: d)))"
        case 5: return "(\(typed(.long, depth: d)) * \(typed(.long, depth: d)))"
        case 6: return "(-\(typed(.long, depth: d)))"
        case 7: return "(if \(typed(.bool, depth: d)) then \(typed(.long, depth: d)) else \(typed(.long, depth: d)))"
        case 8: return "(\(typed(.record, depth: d)).n)"
        default: return "context.rows"
        }
    }

    mutating func string(depth: Int) -> String {
        let d = depth - 1
        switch int(0...5) {
        case 0, 1: return "\"\(pick(words))\""
        case 2: return pick(["principal.name", "context.purpose", "principal.info.s"])
        case 3 where depth > 0: return "(if \(typed(.bool, depth: d)) then \(typed(.string, depth: d)) else \(typed(.string, depth: d)))"
        case 4 where depth > 0: return "(\(typed(.record, depth: d))[\"s\"])"
        default: return "context.purpose"
        }
    }

    mutating func entity(depth: Int) -> String {
        switch int(0...7) {
        case 0: return "principal"
        case 1: return "resource"
        case 2: return "action"
        case 3: return literal(pick(departments + [ghost]))
        case 4: return literal(pick(groups))
        case 5: return pick(["resource.owner", "principal.boss"])
        case 6: return literal(chance(0.5) ? actionGroup : pick(actions))
        default: return literal(pick(categories))
        }
    }

    mutating func set(depth: Int) -> String {
        let d = depth - 1
        switch int(0...4) {
        case 0: return pick(["principal.tags", "resource.fields", "context.tags"])
        case 1 where depth > 0: return "[" + (0..<int(0...3)).map { _ in typed(.string, depth: d) }.joined(separator: ", ") + "]"
        case 2 where depth > 0: return "[" + (0..<int(0...3)).map { _ in typed(.entity, depth: d) }.joined(separator: ", ") + "]"
        case 3 where depth > 0: return "[" + (0..<int(0...3)).map { _ in any(depth: d) }.joined(separator: ", ") + "]"
        default: return "[" + (0..<int(0...3)).map { _ in "\"\(pick(words))\"" }.joined(separator: ", ") + "]"
        }
    }

    mutating func record(depth: Int) -> String {
        let d = depth - 1
        switch int(0...2) {
        case 0: return "principal.info"
        case 1 where depth > 0: return "{n: \(typed(.long, depth: d)), s: \(typed(.string, depth: d))}"
        default: return "context"
        }
    }
}
