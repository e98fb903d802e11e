import Foundation
import GatewayCrypto

/// The genesis file: chain id, crypto suite and members. Everything a verifier needs to trust the chain.
public struct Genesis: Sendable, Codable, Equatable {
    public struct Member: Sendable, Codable, Equatable {
        public enum Role: String, Sendable, Codable { case validator, observer }
        public let nodeID: String
        public let department: String
        public let role: Role
        /// SPKI PEM of the node's signing key.
        public let publicKey: String
        public let address: String
        /// PEM of the node's TLS certificate (a P-256 key, self-signed): peers pin it for mutual TLS. Optional, so that
        /// chains founded before TLS keep their genesis hash; a node without one cannot speak TLS to its peers.
        public let tlsCertificate: String?

        public static let tlsCertificateBytesMax = 8_192

        public init(nodeID: String, department: String, role: Role, publicKey: String, address: String, tlsCertificate: String? = nil) {
            self.nodeID = nodeID
            self.department = department
            self.role = role
            self.publicKey = publicKey
            self.address = address
            self.tlsCertificate = tlsCertificate
        }

        /// The same member with a TLS certificate.
        public func with(tlsCertificate: String?) -> Member {
            Member(nodeID: nodeID, department: department, role: role, publicKey: publicKey, address: address, tlsCertificate: tlsCertificate)
        }
    }

    public let chainID: String
    public let suite: SuiteName
    public let members: [Member]
    public let createdAtMs: Int64
    /// Policy bundles approved from the start (hex digests under the chain's suite): the consortium's founding
    /// bundle, so its nodes can serve before any governance round. Later bundles are approved by governance.
    public let policyBundles: [String]
    /// The consortium's aggregation key: a t-of-n threshold Paillier public key and which validator holds which share.
    /// Every node encrypts aggregate fields under it; only t share holders together can decrypt (issue 14).
    public let aggregation: AggregationKey?

    public init(
        chainID: String, suite: SuiteName, members: [Member], createdAtMs: Int64, policyBundles: [String] = [], aggregation: AggregationKey? = nil
    ) {
        self.chainID = chainID
        self.suite = suite
        self.members = members
        self.createdAtMs = createdAtMs
        self.policyBundles = policyBundles
        self.aggregation = aggregation
    }

    /// This genesis with the consortium's aggregation key (the key ceremony's output).
    public func with(aggregation: AggregationKey) -> Genesis {
        Genesis(chainID: chainID, suite: suite, members: members, createdAtMs: createdAtMs, policyBundles: policyBundles, aggregation: aggregation)
    }

    enum CodingKeys: String, CodingKey { case chainID, suite, members, createdAtMs, policyBundles, aggregation }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        chainID = try container.decode(String.self, forKey: .chainID)
        suite = try container.decode(SuiteName.self, forKey: .suite)
        members = try container.decode([Member].self, forKey: .members)
        guard members.allSatisfy({ ($0.tlsCertificate?.utf8.count ?? 0) <= Member.tlsCertificateBytesMax }) else {
            throw DecodingError.dataCorruptedError(
                forKey: .members, in: container, debugDescription: "a member's TLS certificate exceeds \(Member.tlsCertificateBytesMax) bytes")
        }
        createdAtMs = try container.decode(Int64.self, forKey: .createdAtMs)
        guard Bounded.unixMilliseconds.range.contains(createdAtMs) else {
            throw DecodingError.dataCorruptedError(forKey: .createdAtMs, in: container, debugDescription: Bounded.unixMilliseconds.requirement)
        }
        policyBundles = try container.decodeIfPresent([String].self, forKey: .policyBundles) ?? []
        aggregation = try container.decodeIfPresent(AggregationKey.self, forKey: .aggregation)
    }

    /// The founding bundles as digests; malformed hex is skipped (`load` refuses such a file).
    public var approvedBundleDigests: [[UInt8]] { policyBundles.compactMap { Hex.decode($0) } }

    public var validators: [Member] { members.filter { $0.role == .validator } }

    /// Votes needed to commit: 2f + 1 of n = 3f + 1 validators (1 for a solo chain).
    public var quorum: Int {
        let n = validators.count
        let f = (n - 1) / 3
        return n - f
    }

    /// Hash of the genesis' canonical encoding: the parent of block 1.
    public func hash(suite: any CryptoSuite) -> [UInt8] {
        var writer = CanonicalWriter()
        writer.write("datagateway/genesis/v1")
        writer.write(chainID)
        writer.write(self.suite.rawValue)
        writer.write(createdAtMs)
        writer.write(UInt64(members.count))
        for member in members {
            writer.write(member.nodeID)
            writer.write(member.department)
            writer.write(member.role.rawValue)
            writer.write(member.publicKey)
            writer.write(member.address)
        }
        // Written only when present, so genesis files without founding bundles keep their hash.
        if !policyBundles.isEmpty {
            writer.write("policy-bundles")
            writer.write(UInt64(policyBundles.count))
            for bundle in policyBundles { writer.write(bundle) }
        }
        if let aggregation {
            writer.write("aggregation-key")
            aggregation.write(to: &writer)
        }
        // Also only when present: the members' TLS certificates (the pins of every connection between nodes).
        if members.contains(where: { $0.tlsCertificate != nil }) {
            writer.write("member-tls-certificates")
            for member in members { writer.write(member.tlsCertificate ?? "") }
        }
        return suite.hash(writer.bytes)
    }

    /// Validator keys by node id; throws on a malformed key or a duplicate id.
    public func validatorKeys(suite: any CryptoSuite) throws -> [String: any VerifyingKey] {
        var keys: [String: any VerifyingKey] = [:]
        for member in members {
            guard keys[member.nodeID] == nil else { throw ChainError(.invalidGenesis, "duplicate node id \(member.nodeID)") }
            keys[member.nodeID] = try suite.verifyingKey(pem: member.publicKey)
        }
        guard !validators.isEmpty else { throw ChainError(.invalidGenesis, "genesis names no validator") }
        return keys
    }

    /// A genesis from its file's bytes (`source` names the file in errors), its policy-bundle digests checked.
    public static func decode(_ data: Data, source: String) throws -> Genesis {
        let genesis: Genesis
        do {
            genesis = try JSONDecoder().decode(Genesis.self, from: data)
        } catch {
            throw ChainError(.invalidGenesis, "\(source) is not a valid genesis file: \(error)")
        }
        let digestLength = try genesis.suite.makeSuite().digestLength
        for bundle in genesis.policyBundles where Hex.decode(bundle)?.count != digestLength {
            throw ChainError(.invalidGenesis, "\(source): policy bundle \(bundle.prefix(80)) is not a \(digestLength)-byte hex digest")
        }
        if let aggregation = genesis.aggregation {
            do { try aggregation.check(against: genesis) } catch { throw ChainError(.invalidGenesis, "\(source): \(error)") }
        }
        return genesis
    }

    /// The genesis file's bytes (pretty-printed JSON with sorted keys).
    public func fileBytes() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
