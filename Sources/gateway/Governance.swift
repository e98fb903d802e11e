import ArgumentParser
import Foundation
import GatewayClient
import GatewayCrypto
import GatewayDemo
import GatewayNode
import GatewayWire

struct Governance: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "governance",
        abstract: "Read the consortium's governed state, propose changes and approve them through a validator's HTTP API.",
        discussion: """
            Adding or removing a validator or observer, and approving a policy bundle, take effect once validators holding \
            ⌈2n/3⌉ of the current n approve (the proposer counts as one); from the next height on the new validator set \
            signs blocks. A node speaks for its operator only: requests must be signed by the department that runs it. \
            Target a node with --url, --department and --key (and --suite), or in a local cluster with --cluster DIR --node node-k.
            """,
        subcommands: [Status.self, Propose.self, Approve.self]
    )

    struct Target: ParsableArguments {
        @Option(
            help: """
                A client profile (client.json, written by `gateway init`): the node's URL, the department, its key, its TLS \
                client identity and the node's certificate, instead of --url/--department/--key/--suite and the TLS options.
                """)
        var profile: String?

        @Option(help: "A cluster directory written by `gateway cluster` (with --node instead of --url/--department/--key).")
        var cluster: String?

        @Option(help: "With --cluster: the node to talk to, e.g. node-1 (its operating department signs).")
        var node: String?

        @Option(help: "Base URL of the node's HTTP API (with --profile: instead of the profile's).")
        var url: String?

        @Option(help: "Department that signs the requests (the node's operator, for proposals and approvals).")
        var department: String?

        @Option(help: "PEM private key of that department.")
        var key: String?

        @Option(help: "Crypto suite of the deployment (sm or intl); taken from the cluster with --cluster.")
        var suite: SuiteName = .sm

        @Option(help: "Role within the department to act in (sent, signed, as DG-Role; declared in the bundle's entities.json).")
        var role: String?

        @OptionGroup var tls: ClientTLSOptions

        func validate() throws {
            if let role, !RequestSigning.isValidRole(role) {
                throw ValidationError("--role must be 1 to 64 characters of a-z, 0-9, _ and -")
            }
        }

        func layout() throws -> ClusterLayout? { try cluster.map { try ClusterLayout.load(from: URL(fileURLWithPath: $0)) } }

        func client() throws -> GatewayClient {
            if let profile { return try ClientProfile.load(profile).client(role: role, url: url) }
            if let layout = try layout() {
                guard let name = node, let entry = layout.nodes.first(where: { $0.nodeID == name }) else {
                    throw CommandFailure("give --node with one of: \(layout.nodes.map(\.nodeID).joined(separator: ", "))")
                }
                guard let index = layout.nodes.firstIndex(where: { $0.nodeID == name }) else { throw CommandFailure("no node \(name)") }
                return try layout.client(self.department ?? entry.department, node: index, role: role)
            }
            guard let url, let department, let key else { throw CommandFailure("give --url, --department and --key (or --cluster and --node)") }
            let suite = try self.suite.makeSuite()
            let signingKey: any SigningKey
            do {
                signingKey = try suite.signingKey(pem: String(decoding: try Data(contentsOf: URL(fileURLWithPath: key)), as: UTF8.self))
            } catch {
                throw CommandFailure("cannot read a \(self.suite.rawValue) private key from \(key): \(error)")
            }
            if let tls = try tls.clientTLS(for: url) {
                return try GatewayClient(baseURL: url, department: department, role: role, key: signingKey, suite: suite, tls: tls)
            }
            return GatewayClient(baseURL: url, department: department, role: role, key: signingKey, suite: suite)
        }
    }

    static func check(_ response: ClientResponse) throws {
        guard response.isSuccess else {
            let detail = response.problem.map { "\($0.code): \($0.detail)" } ?? String(decoding: response.body, as: UTF8.self)
            throw CommandFailure("the node answered HTTP \(response.status): \(detail)")
        }
    }

    static func report(_ receipt: API.GovernanceReceipt, client: GatewayClient) async throws {
        say("\(receipt.proposalId): transaction \(receipt.transaction) committed at height \(receipt.height) — \(receipt.status)")
        let status = try await client.send("GET", "/v1/governance")
        if status.isSuccess, let state = try? status.decode(API.GovernanceStatus.self) {
            if let pending = state.pending.first(where: { $0.proposalId == receipt.proposalId }) {
                say("approvals \(pending.approvals.count) of \(pending.approvalsNeeded): \(pending.approvals.joined(separator: ", "))")
            }
            say("validators from height \(state.height + 1) (epoch \(state.epoch)): \(state.validators.joined(separator: ", "))")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the validators, members, pending proposals and approved policy bundles.")

        @OptionGroup var target: Target

        func run() async throws {
            let client = try target.client()
            let response = try await client.send("GET", "/v1/governance")
            try Governance.check(response)
            let state = try response.decode(API.GovernanceStatus.self)
            say("height \(state.height), epoch \(state.epoch); validators: \(state.validators.joined(separator: ", "))")
            if let node = state.node, state.votes == false {
                say(
                    "\(node) does not vote: it learns of new blocks from the validators, so what it shows can trail them by a few seconds (ask a validator for the newest)"
                )
            }
            if let target = state.catchingUpTo {
                say(
                    "catching up: this node has stored blocks to height \(state.height) of at least \(target); newer decisions are not shown yet (ask again, or ask another node)"
                )
            }
            for member in state.members { say("  \(member.nodeId) (\(member.department), \(member.role)) at \(member.address)") }
            for pending in state.pending {
                say(
                    "pending \(pending.proposalId): \(pending.change.kind) — approvals \(pending.approvals.count) of \(pending.approvalsNeeded) (\(pending.approvals.joined(separator: ", ")))"
                )
            }
            for bundle in state.approvedBundles { say("approved policy bundle \(bundle)") }
        }
    }

    struct Propose: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Propose one change; it counts as the proposing node's approval.",
            discussion: """
                Exactly one of --add-validator, --add-observer, --remove, --approve-bundle, --set-department-key. A key \
                change needs --department-key (the department's new public or private key PEM): once decided, nodes \
                verify that department's requests with the new key and refuse the old one. A new member needs \
                --member-key (its public or private key PEM), --member-department and --member-address host:port — or, with \
                --cluster, nothing more: the joining node's entry in cluster.json supplies them.
                """
        )

        @OptionGroup var target: Target

        @Option(help: "Proposal id (letters, digits, - _ . :). Default: derived from the change and the time.")
        var proposal: String?

        @Option(help: "Admit this node as a validator.")
        var addValidator: String?

        @Option(help: "Admit this node as an observer.")
        var addObserver: String?

        @Option(help: "Remove this member.")
        var remove: String?

        @Option(help: "Approve the policy bundle with this hash (hex).")
        var approveBundle: String?

        @Option(help: "Change this department's request-signing key (rotation, or replacing a compromised key).")
        var setDepartmentKey: String?

        @Option(help: "The department's new key for --set-department-key: a PEM file (public key, or private key whose public half is used).")
        var departmentKey: String?

        @Option(help: "The new member's key: a PEM file holding its public key (or its private key, whose public half is used).")
        var memberKey: String?

        @Option(help: "The department that runs the new member.")
        var memberDepartment: String?

        @Option(help: "The new member's peer address, host:port.")
        var memberAddress: String?

        @Option(help: "The new member's TLS certificate (its <data-dir>/tls-cert.pem), pinned by its peers.")
        var memberCertificate: String?

        func validate() throws {
            guard [addValidator, addObserver, remove, approveBundle, setDepartmentKey].compactMap({ $0 }).count == 1 else {
                throw ValidationError("give exactly one of --add-validator, --add-observer, --remove, --approve-bundle, --set-department-key")
            }
            if setDepartmentKey != nil, departmentKey == nil {
                throw ValidationError("--set-department-key needs --department-key FILE (the department's new key, PEM)")
            }
        }

        func member(_ nodeID: String, role: String) throws -> API.GovernanceMember {
            if let layout = try target.layout(), memberKey == nil, let joining = layout.nodes.first(where: { $0.nodeID == nodeID })?.joining {
                return API.GovernanceMember(
                    nodeId: nodeID, department: joining.department, role: role, publicKey: joining.publicKey, address: joining.address,
                    tlsCertificate: joining.tlsCertificate)
            }
            guard let memberKey, let memberDepartment, let memberAddress else {
                throw CommandFailure("a new member needs --member-key, --member-department and --member-address")
            }
            let publicKey = try publicKeyPEM(memberKey)
            var certificate: String? = nil
            if let memberCertificate {
                guard let data = try? Data(contentsOf: URL(fileURLWithPath: memberCertificate)) else {
                    throw CommandFailure("cannot read \(memberCertificate): give the new member's tls-cert.pem")
                }
                certificate = String(decoding: data, as: UTF8.self)
            }
            return API.GovernanceMember(
                nodeId: nodeID, department: memberDepartment, role: role, publicKey: publicKey, address: memberAddress, tlsCertificate: certificate)
        }

        /// The public key PEM in a file holding a public key, or a private key (whose public half is used).
        func publicKeyPEM(_ path: String) throws -> String {
            let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
            let suite = try (try target.layout()?.suite ?? target.suite).makeSuite()
            if let key = try? suite.verifyingKey(pem: text) { return key.pemRepresentation }
            if let key = try? suite.signingKey(pem: text) { return key.publicKey.pemRepresentation }
            throw CommandFailure("\(path) holds no \(suite.name.rawValue) key in PEM")
        }

        func run() async throws {
            let change: API.GovernanceChange
            let label: String
            if let department = setDepartmentKey, let departmentKey {
                change = API.GovernanceChange(kind: "setDepartmentKey", department: department, publicKey: try publicKeyPEM(departmentKey))
                label = "key-\(department)"
            } else if let node = addValidator {
                change = API.GovernanceChange(kind: "addMember", member: try member(node, role: "validator"))
                label = "add-\(node)"
            } else if let node = addObserver {
                change = API.GovernanceChange(kind: "addMember", member: try member(node, role: "observer"))
                label = "add-\(node)"
            } else if let node = remove {
                change = API.GovernanceChange(kind: "removeMember", nodeId: node)
                label = "remove-\(node)"
            } else {
                change = API.GovernanceChange(kind: "approvePolicyBundle", bundleHash: approveBundle)
                label = "bundle"
            }
            let id = proposal ?? "\(label)-\(Int64(Date().timeIntervalSince1970 * 1_000))"
            let client = try target.client()
            note("proposing \(id) through \(client.baseURL) as \(client.department); waiting for the block")
            let response = try await client.send(
                "POST", "/v1/governance/proposals", json: API.GovernanceProposalRequest(proposalId: id, change: change))
            try Governance.check(response)
            try await Governance.report(try response.decode(API.GovernanceReceipt.self), client: client)
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Approve a pending proposal as the target node.")

        @OptionGroup var target: Target

        @Option(help: "Id of the pending proposal (see `gateway governance status`).")
        var proposal: String

        func run() async throws {
            let client = try target.client()
            note("approving \(proposal) through \(client.baseURL) as \(client.department); waiting for the block")
            let path = "/v1/governance/proposals/\(pathSegment(proposal))/approvals"
            let response = try await client.send("POST", path)
            try Governance.check(response)
            try await Governance.report(try response.decode(API.GovernanceReceipt.self), client: client)
        }
    }
}
