import Foundation
import GatewayCrypto

/// The consortium's aggregation key, as the genesis publishes it: the threshold Paillier public key with its share
/// verification keys, and the validator holding each share (share i is `holders[i − 1]`'s). Nothing secret: p, q, λ
/// and d never leave the dealer's memory, and each share travels sealed to its holder's node key (`SealedKeyShare`).
public struct AggregationKey: Sendable, Codable, Equatable {
    public let key: ThresholdPaillier.PublicParameters
    public let holders: [String]

    public init(key: ThresholdPaillier.PublicParameters, holders: [String]) {
        self.key = key
        self.holders = holders
    }

    public var threshold: Int { key.threshold }

    /// The 1-based share index of `nodeID`, nil if it holds no share.
    public func shareIndex(of nodeID: String) -> Int? {
        holders.firstIndex(of: nodeID).map { $0 + 1 }
    }

    /// Smallest modulus a genesis accepts.
    public static let minimumBits = 1_024

    /// The holders are distinct validators of `genesis`, one per share, and the key is well formed.
    public func check(against genesis: Genesis) throws {
        guard holders.count == key.parties, Set(holders).count == holders.count else {
            throw ChainError(.invalidGenesis, "the aggregation key names \(holders.count) holders for \(key.parties) shares, or one twice")
        }
        let validators = Set(genesis.validators.map(\.nodeID))
        if let stranger = holders.first(where: { !validators.contains($0) }) {
            throw ChainError(.invalidGenesis, "aggregation share holder \(stranger) is not a validator of the genesis")
        }
        let scheme: ThresholdPaillier
        do { scheme = try ThresholdPaillier(parameters: key) } catch {
            throw ChainError(.invalidGenesis, "the aggregation key is malformed: \(error)")
        }
        guard scheme.publicKey.bits >= Self.minimumBits else {
            throw ChainError(.invalidGenesis, "the aggregation key has \(scheme.publicKey.bits) bits; at least \(Self.minimumBits)")
        }
    }

    public func scheme() throws -> ThresholdPaillier { try ThresholdPaillier(parameters: key) }

    func write(to writer: inout CanonicalWriter) {
        writer.write(key.n)
        writer.write(UInt64(key.threshold))
        writer.write(UInt64(key.parties))
        writer.write(key.verificationBase)
        writer.write(UInt64(key.verificationKeys.count))
        for verification in key.verificationKeys { writer.write(verification) }
        writer.write(UInt64(holders.count))
        for holder in holders { writer.write(holder) }
    }

    /// "t of n".
    public var summary: String { "\(key.threshold) of \(key.parties)" }
}

/// One node's share of the aggregation key, sealed to that node's signing key from the genesis (`PublicKeySeal`),
/// for the chain, node and share index it names: the file can travel by any channel, and only that node opens it.
public struct SealedKeyShare: Sendable, Codable, Equatable {
    public let chainID: String
    public let nodeID: String
    public let index: Int
    /// Base64 of the sealed share.
    public let sealed: String

    public init(chainID: String, nodeID: String, index: Int, sealed: String) {
        self.chainID = chainID
        self.nodeID = nodeID
        self.index = index
        self.sealed = sealed
    }

    static func context(chainID: String, nodeID: String, index: Int, key: ThresholdPaillier.PublicParameters) -> [UInt8] {
        var writer = CanonicalWriter()
        writer.write("datagateway/aggregation-share/v1")
        writer.write(chainID)
        writer.write(nodeID)
        writer.write(UInt64(index))
        writer.write(key.n)
        return writer.bytes
    }

    /// Seals `share` to the genesis key of the member holding it.
    public static func seal(_ share: ThresholdPaillier.KeyShare, in genesis: Genesis, suite: any CryptoSuite) throws -> SealedKeyShare {
        guard let aggregation = genesis.aggregation, (1...aggregation.holders.count).contains(share.index) else {
            throw ChainError(.invalidGenesis, "the genesis has no aggregation share \(share.index)")
        }
        let nodeID = aggregation.holders[share.index - 1]
        guard let member = genesis.members.first(where: { $0.nodeID == nodeID }) else {
            throw ChainError(.invalidGenesis, "share holder \(nodeID) is not a member")
        }
        var plaintext = Array(share.secret.utf8)
        defer { secureZero(&plaintext) }
        let box = try PublicKeySeal.seal(
            plaintext, to: try suite.verifyingKey(pem: member.publicKey),
            context: context(chainID: genesis.chainID, nodeID: nodeID, index: share.index, key: aggregation.key))
        return SealedKeyShare(chainID: genesis.chainID, nodeID: nodeID, index: share.index, sealed: Data(box).base64EncodedString())
    }

    /// Opens the share with the node's signing key and checks it against its verification key in the genesis.
    public func open(with key: any SigningKey, genesis: Genesis) throws -> ThresholdPaillier.KeyShare {
        guard let aggregation = genesis.aggregation else { throw ChainError(.invalidGenesis, "the genesis has no aggregation key") }
        guard chainID == genesis.chainID else { throw ChainError(.invalidGenesis, "this share is for chain \(chainID), not \(genesis.chainID)") }
        guard aggregation.shareIndex(of: nodeID) == index else {
            throw ChainError(.invalidGenesis, "the genesis does not give share \(index) to \(nodeID)")
        }
        guard let box = Data(base64Encoded: sealed) else { throw ChainError(.malformed, "the sealed share is not base64") }
        var plaintext = try PublicKeySeal.open(
            [UInt8](box), with: key, context: Self.context(chainID: chainID, nodeID: nodeID, index: index, key: aggregation.key))
        defer { secureZero(&plaintext) }
        let share = ThresholdPaillier.KeyShare(index: index, secret: String(decoding: plaintext, as: UTF8.self))
        guard try aggregation.scheme().check(share) else {
            throw ChainError(.invalidGenesis, "share \(index) does not match its verification key in the genesis")
        }
        return share
    }
}

/// The key ceremony: a dealer generates the consortium's aggregation key for a genesis' validators and seals one
/// share to each. The dealer's factors exist only in memory during the call (GMP clears what it frees).
public enum KeyCeremony {
    public static func deal(
        genesis: Genesis, threshold: Int, bits: Int, suite: any CryptoSuite, using random: some RandomSource & Sendable = SystemRandom(),
        progress: (String) -> Void = { _ in }, revealingFactorsTo factors: ((GMPInteger, GMPInteger) -> Void)? = nil
    ) throws -> (genesis: Genesis, shares: [SealedKeyShare]) {
        let holders = genesis.validators.map(\.nodeID)
        guard !holders.isEmpty, (1...holders.count).contains(threshold), holders.count <= 64 else {
            throw ChainError(.invalidGenesis, "need 1 ≤ threshold ≤ validators (\(holders.count)) ≤ 64")
        }
        guard bits >= AggregationKey.minimumBits, bits <= 8_192, bits % 2 == 0 else {
            throw ChainError(.invalidGenesis, "the aggregation modulus needs an even number of bits from \(AggregationKey.minimumBits) to 8192")
        }
        let (scheme, shares) = try ThresholdPaillier.deal(
            bits: bits, threshold: threshold, parties: holders.count, using: random, progress: progress, revealingFactorsTo: factors)
        let founded = genesis.with(aggregation: AggregationKey(key: scheme.parameters, holders: holders))
        return (founded, try shares.map { try SealedKeyShare.seal($0, in: founded, suite: suite) })
    }
}
