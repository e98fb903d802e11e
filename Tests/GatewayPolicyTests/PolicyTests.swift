import Foundation
import GatewayCrypto
import GatewayFiles
import GatewayPolicy
import GatewayTestSupport
import Testing

func department(_ id: String) -> EntityUID { EntityUID(type: "Department", id: id) }
func action(_ id: String) -> EntityUID { EntityUID(type: "Action", id: id) }
let citizen = EntityUID(type: "Category", id: "citizen")

func decide(
    _ source: String, principal: EntityUID = department("social_security"), action verb: String = "read",
    resource: EntityUID = citizen, context: [String: Value] = ["purpose": .string("benefit_eligibility")],
    entities: EntityStore = EntityStore()
) throws -> Decision {
    try PolicySet(sources: [("test.cedar", source)])
        .authorize(AuthorizationRequest(principal: principal, action: action(verb), resource: resource, context: context), entities: entities)
}

@Suite struct AuthorizationSemanticsTests {
    @Test func defaultDenyWhenNothingMatches() throws {
        let decision = try decide(#"permit (principal == Department::"housing", action, resource);"#)
        #expect(decision.effect == .deny)
        #expect(decision.determiningPolicies.isEmpty)
        #expect(decision.reason.contains("default deny"))
    }

    @Test func forbidWinsOverPermit() throws {
        let decision = try decide(
            """
            @id("allow-all") permit (principal, action, resource);
            @id("no-marketing") forbid (principal, action, resource) when { context.purpose == "marketing" };
            """, context: ["purpose": .string("marketing")])
        #expect(decision.effect == .deny)
        #expect(decision.determiningPolicies == ["no-marketing"])
    }

    @Test func permitNamesEveryDeterminingPolicyAndPositionalIdsCountAcrossTheSet() throws {
        let decision = try decide(
            """
            permit (principal, action, resource);
            @id("named") permit (principal == Department::"social_security", action == Action::"read", resource == Category::"citizen");
            permit (principal, action == Action::"audit", resource);
            permit (principal, action in [Action::"read", Action::"publish"], resource);
            """)
        #expect(decision.effect == .allow)
        #expect(decision.determiningPolicies == ["policy0", "named", "policy3"])
    }

    @Test func evaluationErrorsSkipThePolicyAndAreReported() throws {
        let decision = try decide(
            """
            @id("needs-missing-attr") permit (principal, action, resource) when { context.missing == 1 };
            @id("type-error") permit (principal, action, resource) when { context.purpose < 3 };
            """)
        #expect(decision.effect == .deny)
        #expect(decision.errors.map(\.policy) == ["needs-missing-attr", "type-error"])
        // A forbid that errors does not deny.
        let permitted = try decide(
            """
            @id("p") permit (principal, action, resource);
            @id("f") forbid (principal, action, resource) when { context.nope };
            """)
        #expect(permitted.effect == .allow)
    }

    @Test func hierarchyMembershipWithIn() throws {
        var entities = EntityStore()
        entities.insert(Entity(uid: department("pdpo"), parents: [EntityUID(type: "Group", id: "regulators")]))
        entities.insert(Entity(uid: EntityUID(type: "Group", id: "regulators"), parents: [EntityUID(type: "Group", id: "oversight")]))
        let source = #"permit (principal in Group::"oversight", action == Action::"audit", resource);"#
        #expect(try decide(source, principal: department("pdpo"), action: "audit", entities: entities).effect == .allow)
        #expect(try decide(source, principal: department("housing"), action: "audit", entities: entities).effect == .deny)
        let inExpression = #"permit (principal, action, resource) when { principal in [Group::"x", Group::"regulators"] };"#
        #expect(try decide(inExpression, principal: department("pdpo"), entities: entities).effect == .allow)
    }

    @Test func expressionOperators() throws {
        let context: [String: Value] = [
            "purpose": .string("benefit_eligibility"), "age": .long(42), "flags": .set([.string("a"), .string("b")]),
            "meta": .record(["level": .long(3)]),
        ]
        let cases: [(String, Bool)] = [
            (#"context.age >= 18 && context.age < 65"#, true),
            (#"context.age > 100 || context.purpose like "benefit_*""#, true),
            (#"!(context.age == 42)"#, false),
            (#"context.age != 41"#, true),
            (#"context.age + 8 == 50 && context.age - 2 == 40 && context.age * 2 == 84"#, true),
            (#"-context.age == -42 && -5 < 0"#, true),
            (#"context has meta && context.meta.level <= 3"#, true),
            (#"context has nothing"#, false),
            (#"context.flags.contains("a") && context.flags.containsAll(["a", "b"]) && !context.flags.containsAny(["z"])"#, true),
            (#"if context.age > 40 then context.purpose == "benefit_eligibility" else false"#, true),
            (#"[1, 2] == [2, 1] && {a: 1, b: "x"} == {b: "x", a: 1}"#, true),
            (#"context["purpose"] like "*eligib*" && !("abc" like "a*d")"#, true),
            (#"principal is Department && resource is Category in Category::"citizen""#, true),
            (#"Department::"a" == Department::"a" && Department::"a" != Department::"b""#, true),
        ]
        for (condition, expected) in cases {
            let decision = try decide("permit (principal, action, resource) when { \(condition) };", context: context)
            #expect((decision.effect == .allow) == expected, "\(condition): errors \(decision.errors)")
            #expect(decision.errors.isEmpty, "\(condition): \(decision.errors)")
        }
    }

    @Test func unlessNegatesAndConditionsCombine() throws {
        let source = #"permit (principal, action, resource) when { context.purpose == "benefit_eligibility" } unless { context.purpose like "*x*" };"#
        #expect(try decide(source).effect == .allow)
        #expect(try decide(source, context: ["purpose": .string("x_eligibility")]).effect == .deny)
    }

    @Test func integerOverflowIsAnErrorNotAWrap() throws {
        let decision = try decide(#"permit (principal, action, resource) when { 9223372036854775807 + 1 > 0 };"#)
        #expect(decision.effect == .deny)
        #expect(decision.errors.count == 1)
    }

    @Test func scopeTypeConstraints() throws {
        #expect(try decide(#"permit (principal is Department, action, resource is Category);"#).effect == .allow)
        #expect(try decide(#"permit (principal is Group, action, resource);"#).effect == .deny)
    }
}

@Suite struct ObligationTests {
    @Test func annotationsBecomeObligations() throws {
        let decision = try decide(
            """
            @fields("a, b,c") @mask("a:last4,b:year,c:hash") @max_rows("5") @min_cohort("3")
            permit (principal, action, resource);
            """)
        let obligations = try #require(decision.obligations)
        #expect(obligations.fields == ["a", "b", "c"])
        #expect(obligations.masks == ["a": .lastCharacters(4), "b": .yearOnly, "c": .saltedHash])
        #expect(obligations.maximumRows == 5)
        #expect(obligations.minimumCohort == 3)
        #expect(!obligations.aggregateOnly)
    }

    @Test func severalPermitsCombineLeastPrivilege() throws {
        let decision = try decide(
            """
            @fields("a,b,c") @mask("a:last4") @max_rows("10") @min_cohort("5") permit (principal, action, resource);
            @fields("b,c,d") @mask("a:redact,c:year") @max_rows("3") @aggregate_only("true") permit (principal, action, resource);
            """)
        let obligations = try #require(decision.obligations)
        #expect(obligations.fields == ["b", "c"])
        #expect(obligations.masks == ["a": .redact, "c": .yearOnly])
        #expect(obligations.maximumRows == 3)
        #expect(obligations.minimumCohort == 5)
        #expect(obligations.aggregateOnly)
    }

    @Test func expiryCombinesToTheEarliest() throws {
        let decision = try decide(
            """
            @expires("2027-06-30") permit (principal, action, resource);
            @expires("2027-01-01T12:00:00Z") permit (principal, action, resource);
            permit (principal, action, resource);
            """)
        #expect(decision.obligations?.expiresAtMs == 1_798_804_800_000)
        let single = try decide(#"@expires("2027-06-30") permit (principal, action, resource);"#)
        #expect(single.obligations?.expiresAtMs == 1_814_313_600_000)
    }

    @Test func malformedObligationsAreRejectedAtLoad() {
        for annotation in [
            #"@expires("next week")"#, #"@mask("a:scramble")"#, #"@max_rows("0")"#, #"@min_cohort("many")"#, #"@aggregate_only("yes")"#,
            #"@fields(" , ")"#,
        ] {
            #expect(throws: PolicyError.self, "\(annotation)") {
                try PolicySet(sources: [("t.cedar", "\(annotation) permit (principal, action, resource);")])
            }
        }
    }
}

@Suite struct ParserTests {
    @Test func syntaxErrorsCarryFileLineAndColumn() {
        let cases: [(String, Int, Int)] = [
            ("permit (principal, action, resource)", 1, 37),
            ("permit (principal, action, resource);\nforbid (principal action, resource);", 2, 19),
            ("permit (principal, action, resource) when { context.a == };", 1, 58),
            ("permit (principal, action, resource) when { decimal(\"1.0\") };", 1, 45),
            ("permit (principal, action, resource) when { context.a.lessThan(1) };", 1, 55),
            ("permit (principal == Department, action, resource);", 1, 22),
            ("@id(\"x\") @id(\"y\") permit (principal, action, resource);", 1, 11),
            ("permit (principal, action, resource) when { \"unterminated };", 1, 45),
        ]
        for (source, line, column) in cases {
            do {
                _ = try PolicySet(sources: [("f.cedar", source)])
                Issue.record("accepted: \(source)")
            } catch let error as PolicyError {
                #expect(error.location?.file == "f.cedar")
                #expect(error.location?.line == line, "\(source): \(error)")
                #expect(error.location?.column == column, "\(source): \(error)")
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
    }

    @Test func integerLiteralsFollowCedar() throws {
        // Int64.min is writable because a minus folds into a bare literal; with an accessor it does not.
        #expect(try decide("permit (principal, action, resource) when { -9223372036854775808 < 0 && - 5 == -5 };").effect == .allow)
        for source in ["9223372036854775808 > 0", "(-9223372036854775808.n) == 1"] {
            #expect(throws: PolicyError.self, "\(source)") {
                try PolicySet(sources: [("t.cedar", "permit (principal, action, resource) when { \(source) };")])
            }
        }
        let negated = try decide("permit (principal, action, resource) when { --9223372036854775808 < 0 };")
        #expect(negated.effect == .deny && negated.errors.count == 1)
    }

    @Test func inWithASetNeedsEntitiesThroughout() throws {
        // Cedar checks every member, even after one matched.
        let decision = try decide(#"permit (principal, action, resource) when { principal in [principal, 1] };"#)
        #expect(decision.effect == .deny && decision.errors.count == 1)
    }

    @Test func duplicatePolicyIdsAreRejected() {
        #expect(throws: PolicyError.self) {
            try PolicySet(sources: [
                ("a.cedar", #"@id("x") permit (principal, action, resource);"#), ("b.cedar", #"@id("x") forbid (principal, action, resource);"#),
            ])
        }
    }

    /// Seeded (`DATAGATEWAY_FUZZ_SEED` replays): random edits of the demo policies either parse, or are refused with a
    /// `PolicyError` that names a location inside the text, never another error, never a crash; and the same text
    /// always gets the same answer.
    @Test func randomlyMutatedPoliciesParseOrAreRefusedWithALocatedPolicyError() throws {
        let source = try String(contentsOf: TestPaths.policies.appendingPathComponent("demo.cedar"), encoding: .utf8)
        let scalars = Array(source.unicodeScalars)
        let alphabet = Array("(){}[];,.:=!<>&|\"@-+*\\ \nabcxyz019_".unicodeScalars)
        let seed = ProcessInfo.processInfo.environment["DATAGATEWAY_FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64(UInt32.max))
        print("policy-parser fuzzer seed \(seed) (replay: DATAGATEWAY_FUZZ_SEED=\(seed))")
        var random = SplitMix64(seed: seed)
        func below(_ n: Int) -> Int { Int(random.next() % UInt64(n)) }
        var parsed = 0, refused = 0
        for _ in 0..<1_500 {
            var mutated = scalars
            for _ in 0..<(1 + below(6)) {
                let position = below(mutated.count)
                switch below(3) {
                case 0: mutated.remove(at: position)
                case 1: mutated.insert(alphabet[below(alphabet.count)], at: position)
                default: mutated[position] = alphabet[below(alphabet.count)]
                }
            }
            var text = ""
            text.unicodeScalars.append(contentsOf: mutated)
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
            func attempt() -> Result<Int, PolicyError>? {
                do {
                    return .success(try PolicySet(sources: [("fuzz.cedar", text)]).policies.count)
                } catch let error as PolicyError {
                    return .failure(error)
                } catch {
                    Issue.record("seed \(seed): not a PolicyError: \(error)")
                    return nil
                }
            }
            guard let first = attempt() else { continue }
            switch first {
            case .success: parsed += 1
            case .failure(let error):
                refused += 1
                if let location = error.location {
                    #expect(
                        location.file == "fuzz.cedar" && (1...lines + 1).contains(location.line) && location.column >= 1, "seed \(seed): \(error)")
                }
                #expect(!error.message.isEmpty, "seed \(seed)")
            }
            #expect(attempt() == first, "seed \(seed): the same text got two answers")
        }
        #expect(refused > 0 && parsed + refused == 1_500, "seed \(seed): \(parsed) parsed, \(refused) refused")
        // Deep nesting is refused, not a stack overflow.
        let deep =
            "permit (principal, action, resource) when { " + String(repeating: "(", count: 10_000) + "true" + String(repeating: ")", count: 10_000)
            + " };"
        #expect(throws: PolicyError.self) { try PolicySet(sources: [("deep.cedar", deep)]) }
    }
}

/// The demo consortium's policies decide as their comments say.
@Suite struct DemoPolicyTests {
    let bundle: PolicyBundle

    init() throws { bundle = try PolicyBundle.load(from: TestPaths.policies) }

    let record = EntityUID(type: "Record", id: "0a1b")

    func decide(
        _ principal: String, _ verb: String, purpose: String, resource: EntityUID = citizen, groups: [String] = [], consents: [String] = []
    ) -> Decision {
        var entities = bundle.entities
        entities.insert(Entity(uid: department(principal), parents: groups.map { EntityUID(type: "Group", id: $0) }))
        entities.insert(
            Entity(uid: record, attributes: ["consents": .set(consents.map { .entity(EntityUID(type: "Purpose", id: $0)) })], parents: [citizen]))
        let context: [String: Value] = ["purpose": .entity(EntityUID(type: "Purpose", id: purpose))]
        return bundle.policySet.authorize(
            AuthorizationRequest(principal: department(principal), action: action(verb), resource: resource, context: context), entities: entities
        )
    }

    @Test func decisionsOfTheDemoScenario() {
        let social = decide("social_security", "read", purpose: "benefit_eligibility", resource: record)
        #expect(social.effect == .allow && social.determiningPolicies == ["social-security-benefit-check"])
        #expect(social.obligations?.masks["citizen_id"] == .lastCharacters(4))
        #expect(social.obligations?.fields?.contains("phone") == false)

        #expect(decide("housing", "read", purpose: "tenant_screening").effect == .deny)
        // Housing needs the citizen's consent on the record: for housing_allocation itself or a purpose above it.
        #expect(decide("housing", "read", purpose: "housing_allocation").effect == .deny)
        for (consents, allowed) in [([String](), false), (["treatment"], false), (["housing_allocation"], true), (["social_welfare"], true)] {
            let decision = decide("housing", "read", purpose: "housing_allocation", resource: record, consents: consents)
            #expect((decision.effect == .allow) == allowed, "consents \(consents)")
            if allowed { #expect(decision.determiningPolicies == ["housing-allocation-with-consent"]) }
        }

        let stats = decide("statistics", "aggregate", purpose: "official_statistics")
        #expect(stats.effect == .allow && stats.obligations?.aggregateOnly == true && stats.obligations?.minimumCohort == 10)
        #expect(decide("statistics", "read", purpose: "official_statistics").effect == .deny)

        // The forbid names the parent purpose; the hierarchy carries it to every commercial purpose.
        for purpose in ["marketing", "advertising", "commercial"] {
            let commercial = decide("civil_registry", "read", purpose: purpose)
            #expect(commercial.effect == .deny && commercial.determiningPolicies == ["no-commercial-use"], "\(purpose)")
        }
        #expect(bundle.purposes.contains("benefit_eligibility") && !bundle.purposes.contains("benefit"))
        #expect(bundle.purposeChain("benefit_eligibility") == ["benefit_eligibility", "social_welfare", "public_administration"])
        #expect(decide("civil_registry", "publish", purpose: "publication").effect == .allow)
        #expect(decide("social_security", "publish", purpose: "publication").effect == .allow, "its beneficiaries, on its own node")
        #expect(decide("housing", "publish", purpose: "publication").effect == .deny)

        let log = EntityUID(type: "AccessLog", id: "chain")
        #expect(decide("regulator", "audit", purpose: "audit", resource: log, groups: ["regulators"]).effect == .allow)
        #expect(decide("housing", "audit", purpose: "audit", resource: log, groups: ["government"]).effect == .deny)
    }

    @Test func bundleHashCoversNamesAndContents() throws {
        let a = try PolicyBundle(sources: [("a.cedar", "permit (principal, action, resource);")])
        let b = try PolicyBundle(sources: [("b.cedar", "permit (principal, action, resource);")])
        let c = try PolicyBundle(sources: [("a.cedar", "permit (principal, action, resource); ")])
        #expect(a.canonicalBytes != b.canonicalBytes)
        #expect(a.canonicalBytes != c.canonicalBytes)
    }
}

/// A permit that reads `context.grant` (or tests it with `has`) is bound by the grant entity's fields and expiry;
/// other permits are not, and the combination stays least-privilege.
@Suite struct GrantBoundPermitTests {
    static let grantUID = EntityUID(type: "Grant", id: "g1")

    static func store(fields: [String], expiresAt: Int64 = 1_900_000_000_000) -> EntityStore {
        EntityStore([
            Entity(
                uid: grantUID,
                attributes: [
                    "grantee": .entity(department("housing")), "fields": .set(fields.map { .string($0) }), "expiresAt": .long(expiresAt),
                ])
        ])
    }

    static let context: [String: Value] = ["purpose": .string("tenant_screening"), "grant": .entity(grantUID)]

    @Test func aPermitReadingTheGrantTakesItsFieldsAndExpiry() throws {
        let decision = try decide(
            """
            @id("granted") @max_rows("20")
            permit (principal, action, resource) when { principal == context.grant.grantee };
            """, principal: department("housing"), context: Self.context, entities: Self.store(fields: ["district", "household_size"]))
        #expect(decision.effect == .allow && decision.reliesOnGrant)
        #expect(decision.obligations?.fields == ["district", "household_size"])
        #expect(decision.obligations?.expiresAtMs == 1_900_000_000_000 && decision.obligations?.maximumRows == 20)
    }

    @Test func hasCountsAsRelyingAndEmptyFieldsRestrictNothing() throws {
        let decision = try decide(
            #"permit (principal, action, resource) when { context has grant };"#,
            context: Self.context, entities: Self.store(fields: [], expiresAt: 42))
        #expect(decision.effect == .allow && decision.reliesOnGrant)
        #expect(decision.obligations?.fields == nil && decision.obligations?.expiresAtMs == 42)
    }

    @Test func permitsThatIgnoreTheGrantAreNotBoundButCombineLeastPrivilege() throws {
        let alone = try decide(
            #"@id("plain") @fields("district,full_name") permit (principal, action, resource);"#,
            context: Self.context, entities: Self.store(fields: ["district"]))
        #expect(!alone.reliesOnGrant && alone.obligations?.fields == ["district", "full_name"] && alone.obligations?.expiresAtMs == nil)
        let both = try decide(
            """
            @id("plain") @fields("district,full_name") permit (principal, action, resource);
            @id("granted") permit (principal, action, resource) when { context.grant.expiresAt > 0 };
            """, context: Self.context, entities: Self.store(fields: ["district", "household_size"]))
        #expect(both.determiningPolicies == ["plain", "granted"] && both.reliesOnGrant)
        #expect(both.obligations?.fields == ["district"])
    }

    @Test func aGrantWhoseLimitsCannotBeReadGrantsNothing() throws {
        // The grant is named but not in the store, or lacks its limits: the permit is skipped as an evaluation error.
        let missing = try decide(#"@id("granted") permit (principal, action, resource) when { context has grant };"#, context: Self.context)
        #expect(missing.effect == .deny && missing.errors.map(\.policy) == ["granted"])
        #expect(missing.errors.first?.message.contains("not in the entity store") == true)
        let partial = EntityStore([Entity(uid: Self.grantUID, attributes: ["fields": .set([])])])
        let noExpiry = try decide(
            #"@id("granted") permit (principal, action, resource) when { context has grant };"#,
            context: Self.context, entities: partial)
        #expect(noExpiry.effect == .deny && noExpiry.errors.first?.message.contains("expiresAt") == true)
        // A forbid that reads the grant is not "bound" by anything: it just denies.
        let forbid = try decide(
            """
            permit (principal, action, resource);
            @id("no-grants") forbid (principal, action, resource) when { context has grant };
            """, context: Self.context, entities: Self.store(fields: []))
        #expect(forbid.effect == .deny && forbid.determiningPolicies == ["no-grants"])
    }
}
