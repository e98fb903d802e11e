import Foundation
import GatewayChain
import GatewayCrypto
import GatewayNode
import GatewaySchema
import GatewayTestSupport
import GatewayWire
import Testing

/// Decryption is a decision of the consortium: a 3-of-4 key whose shares belong to four nodes, each answering decryption
/// requests on chain after its own checks. Honest holders release the statistic; a forged share is set aside by its
/// proof; a request the checks reject is refused on chain by every holder; with fewer than t honest holders nothing is
/// released; and no node decrypts a stored ciphertext alone.
@Suite struct ConsortiumDecryptionTests {
    typealias F = ExchangeFixture
    static let statistics = API.AggregateRequest(category: "citizen", field: "monthly_income", groupBy: ["district"], purpose: "official_statistics")

    /// 24 citizens in taipa (sum 1,000 + … + 24,000 = 300,000) and 4 in coloane (below the cohort of 10).
    func publish(_ fixture: F) async throws {
        let records = (1...24).map { F.citizen($0, district: "taipa", income: 1_000 * $0) } + (25...28).map { F.citizen($0, district: "coloane") }
        _ = try await fixture.exchange.publishing.publish(F.principal(F.registry), category: "citizen", records: records)
    }

    func entry(_ fixture: F, _ response: API.AggregateResponse) async throws -> DecryptionBook.Entry {
        let id = try #require(response.decryption?.request)
        return try #require(await fixture.chain.decryption(id))
    }

    @Test func threeHonestHoldersOfFourReleaseTheSumsAndOnlyTheGroupsAtTheCohort() async throws {
        let fixture = try F(threshold: 3, shareHolders: 4)
        try await publish(fixture)
        let response = try await fixture.exchange.aggregates.aggregate(F.principal(F.statistics), Self.statistics)
        let taipa = try #require(response.groups.first { $0.key["district"]?.stringValue == "taipa" })
        let coloane = try #require(response.groups.first { $0.key["district"]?.stringValue == "coloane" })
        #expect(taipa.sum == 300_000 && taipa.count == 24 && !taipa.suppressed)
        #expect(coloane.suppressed && coloane.sum == nil)
        let decryption = try #require(response.decryption)
        #expect(decryption.threshold == "3 of 4" && Set(decryption.shareHolders).count == 3)
        // The request, its shares and their proofs are on chain: one partial per share holder for the one packed
        // ciphertext, which holds only the group at the cohort (coloane is never decrypted), and anyone can combine
        // and unpack them.
        let entry = try await entry(fixture, response)
        let publicKey = fixture.scheme.publicKey
        let groups = entry.request.decryptable(modulusSquared: publicKey.nSquared)
        #expect(groups.count == 1 && entry.request.contributions[0].groups.count == 2)
        #expect(entry.request.slotBits > 0 && entry.request.packing(publicKey).slots > 1, "groups are packed for decryption")
        let packed = entry.request.ciphertextsToDecrypt(publicKey)
        #expect(packed.count == 1)
        var partials: [ThresholdPaillier.PartialDecryption] = []
        for (party, bytes) in entry.shares {
            let decoded = try PartialDecryptions(decoding: bytes, party: party)
            #expect(decoded.partials.count == 1)
            partials += decoded.partials
        }
        let plaintext = try fixture.scheme.combine(partials, for: packed[0])
        #expect(try entry.request.packing(publicKey).unpack([plaintext], count: 1) == [GMPInteger(300_000)])
        // The labels on chain are salted: nothing names the district.
        #expect(!entry.request.encoded.windowContains(Array("taipa".utf8)))
    }

    @Test func aForgedShareIsSetAsideByItsProof() async throws {
        let fixture = try F(threshold: 3, shareHolders: 4, forgingPeers: ["node-4"])
        try await publish(fixture)
        let response = try await fixture.exchange.aggregates.aggregate(F.principal(F.statistics), Self.statistics)
        #expect(response.groups.first { $0.key["district"]?.stringValue == "taipa" }?.sum == 300_000)
        #expect(response.decryption?.shareHolders.contains("node-4") == false)
    }

    @Test func withFewerThanTHonestHoldersNothingIsReleased() async throws {
        // node-3 is down and node-4 forges: two valid shares of the three needed. The request stalls, releases nothing,
        // and says so; node-4's share stays on chain, failing its proof for anyone who checks.
        let fixture = try F(threshold: 3, shareHolders: 4, silentPeers: ["node-3"], forgingPeers: ["node-4"], decryptionTimeoutMs: 300)
        try await publish(fixture)
        await expectProblem(.decryptionPending) {
            _ = try await fixture.exchange.aggregates.aggregate(F.principal(F.statistics), Self.statistics)
        }
        let id = try #require(await fixture.chain.openDecryptions().last?.id)
        // The requester gave up at its deadline; the answering holders' shares arrive when their duties run (events,
        // not time: on a busy machine they may come after the deadline).
        var height = await fixture.chain.ledger.height
        for _ in 0..<30 {
            guard let entry = await fixture.chain.decryption(id), entry.shares.count < 3 else { break }
            height = await fixture.chain.awaitHeight(after: height, timeoutMs: 10_000)
        }
        let entry = try #require(await fixture.chain.decryption(id))
        let packed = entry.request.ciphertextsToDecrypt(fixture.scheme.publicKey)
        let valid = try entry.shares.filter { party, bytes in
            try PartialDecryptions(decoding: bytes, party: party).partials.allSatisfy { fixture.scheme.verify($0, for: packed[0]) }
        }
        #expect(valid.keys.sorted() == [1, 2] && entry.shares.keys.sorted() == [1, 2, 4])
        #expect(throws: CryptoError.self) {
            try fixture.scheme.combine(try entry.shares.flatMap { try PartialDecryptions(decoding: $1, party: $0).partials }, for: packed[0])
        }
    }

    @Test func everyHolderRefusesARequestItsChecksReject() async throws {
        // A requester's node puts groups before the consortium that no holder's access event allowed: its own
        // contribution with a made-up event and digest. Every share holder refuses, on chain, with its reason.
        let fixture = try F(threshold: 3, shareHolders: 4)
        try await publish(fixture)
        let honest = try await fixture.exchange.aggregates.aggregate(F.principal(F.statistics), Self.statistics)
        let original = try await entry(fixture, honest).request
        let inflated = DecryptionRequest(
            query: original.query,
            contributions: original.contributions.map { contribution in
                .init(
                    holder: contribution.holder, eventID: contribution.eventID,
                    groups: contribution.groups.map { .init(label: $0.label, cohort: 50, count: $0.count, sum: $0.sum) })
            })
        let forgedEvent = DecryptionRequest(
            query: original.query, contributions: original.contributions.map { .init(holder: $0.holder, eventID: "no-such-event", groups: $0.groups) }
        )
        for (request, reason) in [(inflated, "digest"), (forgedEvent, "not on chain")] {
            let (hash, _) = try await fixture.chain.submit(.decryptionRequest, payload: request.encoded)
            let id = Hex.encode(hash)
            var height = await fixture.chain.ledger.height
            for _ in 0..<30 {
                guard let entry = await fixture.chain.decryption(id), entry.refusals.count < 4 else { break }
                height = await fixture.chain.awaitHeight(after: height, timeoutMs: 10_000)
            }
            let entry = try #require(await fixture.chain.decryption(id))
            #expect(entry.shares.isEmpty && entry.refusals.count == 4)
            #expect(entry.refusals.values.allSatisfy { $0.contains(reason) }, "\(entry.refusals)")
        }
    }

    @Test func noNodeDecryptsAStoredCiphertextAlone() async throws {
        let fixture = try F(threshold: 3, shareHolders: 4)
        try await publish(fixture)
        let rows = try await fixture.store.aggregateRows(category: "citizen", field: "monthly_income")
        let ciphertext = PaillierCiphertext(serialized: try #require(rows.first).ciphertext)
        for share in fixture.shares {
            #expect(throws: CryptoError.self) {
                try fixture.scheme.combine([try fixture.scheme.partialDecrypt(ciphertext, share: share)], for: ciphertext)
            }
        }
    }
}

extension Array where Element == UInt8 {
    func windowContains(_ needle: [UInt8]) -> Bool {
        guard needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { Array(self[$0..<($0 + needle.count)]) == needle }
    }
}
