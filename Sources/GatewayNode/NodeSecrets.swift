import Foundation
import GatewayChain
import GatewayCrypto
import GatewayFiles

/// The node's key material, loaded from (or created in) its data directory.
package struct NodeSecrets: Sendable {
    package let signingKey: any SigningKey
    /// Wraps the per-record data keys (envelope encryption).
    let recordKey: [UInt8]
    /// Per-deployment HMAC salt for every hash that goes on chain.
    let salt: [UInt8]
    /// The consortium's aggregation key and this node's share of it, if it holds one.
    package let aggregation: ConsortiumKey
    package let genesis: Genesis

    /// Loads the secrets, creating any that are missing. `progress` is told about slow steps (key generation).
    package static func loadOrCreate(configuration: NodeConfiguration, suite: any CryptoSuite, progress: (String) -> Void = { _ in }) throws
        -> NodeSecrets
    {
        let directory = configuration.dataDirectory
        let keyPath = configuration.nodeKeyPath ?? directory.appendingPathComponent("node-key.pem")
        let keyPEM = try SecretFiles.loadOrCreate(keyPath) { Data(suite.generateSigningKey().pemRepresentation.utf8) }
        let signingKey: any SigningKey
        do {
            signingKey = try suite.signingKey(pem: String(decoding: keyPEM, as: UTF8.self))
        } catch {
            throw NodeError("node key \(keyPath.path) is not a \(suite.name.rawValue) private key: \(error)")
        }
        let recordKey = try randomSecret(directory.appendingPathComponent("record-key.hex"), count: suite.symmetricKeyLength)
        let salt = try randomSecret(directory.appendingPathComponent("salt.hex"), count: 32)

        if FileManager.default.fileExists(atPath: directory.appendingPathComponent("aggregation-key.json").path) {
            throw NodeError(
                """
                \(directory.path) holds aggregation-key.json, a whole per-node Paillier key from before the consortium key: aggregate \
                fields are now encrypted under the genesis' threshold key, which no node can decrypt alone. Re-publish this node's \
                records into a new data directory and database under a genesis with an aggregation key (README, "The consortium \
                aggregation key"), then delete the old directory; this node will not run with a key that decrypts on its own.
                """)
        }
        let genesisPath = directory.appendingPathComponent("genesis.json")
        let sharePath = directory.appendingPathComponent(Self.shareFileName)
        if !FileManager.default.fileExists(atPath: genesisPath.path) {
            // A solo node founds its own chain: it is its only validator and holds the only share (t = n = 1).
            let unkeyed = Genesis(
                chainID: "datagateway-\(configuration.nodeID)", suite: suite.name,
                members: [
                    Genesis.Member(
                        nodeID: configuration.nodeID, department: configuration.department, role: .validator,
                        publicKey: signingKey.publicKey.pemRepresentation, address: "\(configuration.host):\(configuration.port)",
                        tlsCertificate: configuration.tls?.certificatePEM
                    )
                ],
                createdAtMs: Int64(Date().timeIntervalSince1970 * 1000)
            )
            progress("dealing this solo node's \(configuration.paillierBits)-bit aggregation key, 1 of 1 (one-time; safe primes)…")
            let (genesis, shares) = try KeyCeremony.deal(genesis: unkeyed, threshold: 1, bits: configuration.paillierBits, suite: suite)
            try SecretFiles.write(try Self.encoded(shares[0]), to: sharePath)
            try SecretFiles.write(try genesis.fileBytes(), to: genesisPath)
        }
        let genesis = try Genesis.load(from: genesisPath)
        // A node that joins after the genesis is not in it; governance admits it, and it is given --peer-listen.
        if let me = genesis.members.first(where: { $0.nodeID == configuration.nodeID }) {
            guard me.publicKey == signingKey.publicKey.pemRepresentation else {
                throw NodeError("node key does not match the genesis entry for \(configuration.nodeID): wrong --node-key?")
            }
            guard me.department == configuration.department else {
                throw NodeError(
                    """
                    the genesis \(genesisPath.path) names \(configuration.nodeID) as the node of \(me.department), not of \
                    \(configuration.department): check --department and --node-id
                    """)
            }
        } else if configuration.peerListen == nil {
            throw NodeError(
                """
                genesis \(genesisPath.path) has no member \(configuration.nodeID): check --node-id, or, for a node that joins later, \
                give --peer-listen host:port (the address its admission proposal names)
                """)
        }
        let aggregation = try ConsortiumKey.load(genesis: genesis, nodeID: configuration.nodeID, signingKey: signingKey, shareFile: sharePath)
        return NodeSecrets(signingKey: signingKey, recordKey: recordKey, salt: salt, aggregation: aggregation, genesis: genesis)
    }

    /// The file in the data directory holding this node's sealed share of the aggregation key.
    package static let shareFileName = "aggregation-share.json"

    package static func encoded(_ share: SealedKeyShare) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(share)
    }

    /// The record key and salt a node's data directory holds, read without creating anything (an audit's view);
    /// nil if either file is absent.
    package static func existingVault(in directory: URL, suite: any CryptoSuite) throws -> RecordVault? {
        func read(_ name: String, count: Int) throws -> [UInt8]? {
            let url = directory.appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
            guard let bytes = Hex.decode(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
                bytes.count == count
            else { throw NodeError("\(url.path) must hold \(count) hex-encoded bytes") }
            return bytes
        }
        guard let recordKey = try read("record-key.hex", count: suite.symmetricKeyLength), let salt = try read("salt.hex", count: 32) else {
            return nil
        }
        return RecordVault(suite: suite, recordKey: recordKey, salt: salt)
    }

    static func randomSecret(_ url: URL, count: Int) throws -> [UInt8] {
        let data = try SecretFiles.loadOrCreate(url) { Data(Hex.encode(SystemRandom().bytes(count: count)).utf8) }
        guard let bytes = Hex.decode(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
            bytes.count == count
        else { throw NodeError("\(url.path) must hold \(count) hex-encoded bytes") }
        return bytes
    }
}
