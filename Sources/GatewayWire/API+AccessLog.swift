import GatewayChain
import GatewayCrypto

extension API {
    /// A node's signed head of the access log (`AccessLogHead`): hashes and signature in lowercase hex.
    public struct AccessLogHeadBody: Codable, Sendable, Equatable {
        public let chainId: String
        public let nodeId: String
        public let size: UInt64
        public let height: UInt64
        public let root: String
        public let timestampMs: Int64
        public let signature: String

        public init(_ head: AccessLogHead) {
            chainId = head.chainID
            nodeId = head.nodeID
            size = head.size
            height = head.height
            root = Hex.encode(head.root)
            timestampMs = head.timestampMs
            signature = Hex.encode(head.signature)
        }

        /// The head, or nil if a hash or the signature is not hex.
        public var head: AccessLogHead? {
            guard let root = Hex.decode(root), let signature = Hex.decode(signature) else { return nil }
            return AccessLogHead(
                chainID: chainId, nodeID: nodeId, size: size, height: height, root: root, timestampMs: timestampMs, signature: signature)
        }
    }

    /// An RFC 9162 consistency proof between two sizes of a node's access log (hashes in lowercase hex).
    public struct AccessLogConsistency: Codable, Sendable, Equatable {
        public let from: UInt64
        public let to: UInt64
        public let proof: [String]

        public init(from: UInt64, to: UInt64, proof: [String]) {
            self.from = from
            self.to = to
            self.proof = proof
        }
    }

    /// An access event's place in the log: its leaf hash and inclusion proof in the first `size` events.
    public struct AccessLogInclusion: Codable, Sendable, Equatable {
        public let index: UInt64
        public let size: UInt64
        public let leafHash: String
        public let proof: [String]

        public init(index: UInt64, size: UInt64, leafHash: String, proof: [String]) {
            self.index = index
            self.size = size
            self.leafHash = leafHash
            self.proof = proof
        }
    }
}
