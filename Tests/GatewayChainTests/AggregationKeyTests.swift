import Foundation
import GatewayChain
import GatewayCrypto
import Testing

/// The genesis' aggregation key: in the hash, checked on load, and each share opening only for its node, its chain and
/// its verification key.
@Suite struct AggregationKeyTests {
    static let suite = InternationalSuite()
    static let keys = (0..<4).map { _ in suite.generateSigningKey() }
    static let founding = Genesis(
        chainID: "agg", suite: .intl,
        members: keys.enumerated().map { index, key in
            .init(
                nodeID: "node-\(index + 1)", department: "d\(index)", role: index < 3 ? .validator : .observer,
                publicKey: key.publicKey.pemRepresentation, address: "h:\(index)")
        }, createdAtMs: 1_800_000_000_000)
    static let dealt = Result { try KeyCeremony.deal(genesis: founding, threshold: 2, bits: 1_024, suite: suite) }

    @Test func theCeremonyKeysTheValidatorsOnlyAndTheHashCoversIt() throws {
        let (genesis, shares) = try Self.dealt.get()
        let aggregation = try #require(genesis.aggregation)
        #expect(aggregation.holders == ["node-1", "node-2", "node-3"], "observers hold no share")
        #expect(shares.map(\.nodeID) == aggregation.holders && shares.map(\.index) == [1, 2, 3])
        #expect(genesis.hash(suite: Self.suite) != Self.founding.hash(suite: Self.suite))
        // The file round-trips and loads; a tampered key or holder list does not.
        let decoded = try Genesis.decode(try genesis.fileBytes(), source: "g")
        #expect(decoded == genesis && decoded.hash(suite: Self.suite) == genesis.hash(suite: Self.suite))
        let other = AggregationKey(key: aggregation.key, holders: ["node-1", "node-2", "node-4"])
        #expect(throws: ChainError.self) { try Genesis.decode(try genesis.with(aggregation: other).fileBytes(), source: "g") }
        let twice = AggregationKey(key: aggregation.key, holders: ["node-1", "node-1", "node-2"])
        #expect(throws: ChainError.self) { try Genesis.decode(try genesis.with(aggregation: twice).fileBytes(), source: "g") }
        let (small, _) = try ThresholdPaillier.deal(bits: 512, threshold: 1, parties: 3)
        let weak = AggregationKey(key: small.parameters, holders: aggregation.holders)
        #expect(throws: ChainError.self) { try Genesis.decode(try genesis.with(aggregation: weak).fileBytes(), source: "g") }
    }

    @Test func aShareOpensOnlyWithItsNodeKeyForItsChainAndMatchesItsVerificationKey() throws {
        let (genesis, shares) = try Self.dealt.get()
        for (index, sealed) in shares.enumerated() {
            let share = try sealed.open(with: Self.keys[index], genesis: genesis)
            #expect(try genesis.aggregation!.scheme().check(share))
            #expect(throws: (any Error).self) { try sealed.open(with: Self.keys[(index + 1) % 3], genesis: genesis) }
        }
        // Relabelled for another node, or presented to another chain: refused.
        let relabelled = SealedKeyShare(chainID: "agg", nodeID: "node-2", index: 2, sealed: shares[0].sealed)
        #expect(throws: (any Error).self) { try relabelled.open(with: Self.keys[1], genesis: genesis) }
        let otherChain = Genesis(
            chainID: "agg-2", suite: .intl, members: genesis.members, createdAtMs: genesis.createdAtMs, policyBundles: [],
            aggregation: genesis.aggregation)
        #expect(throws: (any Error).self) { try shares[0].open(with: Self.keys[0], genesis: otherChain) }
        // A share sealed correctly but not the dealt one (a dealer's mistake, or a swap) fails its verification key.
        let wrong = try SealedKeyShare.seal(.init(index: 1, secret: "12345"), in: genesis, suite: Self.suite)
        #expect(throws: ChainError.self) { try wrong.open(with: Self.keys[0], genesis: genesis) }
    }

    @Test func anyThresholdOfSharesDecryptsAndFewerCannot() throws {
        let (genesis, sealed) = try Self.dealt.get()
        let scheme = try genesis.aggregation!.scheme()
        let shares = try sealed.enumerated().map { try $1.open(with: Self.keys[$0], genesis: genesis) }
        let c = try scheme.publicKey.encrypt(-77)
        for pair in [(0, 1), (0, 2), (1, 2)] {
            let partials = try [scheme.partialDecrypt(c, share: shares[pair.0]), scheme.partialDecrypt(c, share: shares[pair.1])]
            #expect(try scheme.combine(partials, for: c) == GMPInteger(-77))
        }
        #expect(throws: CryptoError.self) { try scheme.combine([scheme.partialDecrypt(c, share: shares[0])], for: c) }
    }

    @Test func onePartysPartialsAreCheckedTogetherAndOneForgeryFailsThem() throws {
        let (genesis, sealed) = try Self.dealt.get()
        let scheme = try genesis.aggregation!.scheme()
        let share = try sealed[1].open(with: Self.keys[1], genesis: genesis)
        let ciphertexts = try (1...5).map { try scheme.publicKey.encrypt($0 * 100) }
        var partials = try ciphertexts.map { try scheme.partialDecrypt($0, share: share) }
        #expect(scheme.verifyAll(partials, for: ciphertexts))
        #expect(!scheme.verifyAll(Array(partials.dropLast()), for: ciphertexts), "counts differ")
        let forged = partials[3]
        partials[3] = .init(index: forged.index, value: partials[2].value, challenge: forged.challenge, response: forged.response)
        #expect(!scheme.verifyAll(partials, for: ciphertexts))
    }
}
