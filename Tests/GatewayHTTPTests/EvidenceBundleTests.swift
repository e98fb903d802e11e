import Foundation
import GatewayChain
import GatewayCrypto
import GatewayDemo
import GatewayNode
import GatewayTestSupport
import GatewayWire
import Testing

/// `gateway audit export` writes an evidence bundle from a live node's database; the Swift verifier
/// (`gateway audit verify-bundle`) and the independent Python one (`tools/verify_bundle.py`, written from
/// docs/evidence-bundle.md with `cryptography` and `gmssl`) accept it with the same event lines, and both refuse each
/// tampering planted in it.
@Suite struct EvidenceBundleTests {
    struct Verdict: Equatable, CustomStringConvertible {
        let status: Int32
        let events: [String]
        let output: String
        var description: String { "exit \(status): \(output)" }
    }

    static func swiftVerifier(_ bundle: URL, genesis: URL?) async throws -> Verdict {
        let run = try await runProcess(
            TestPaths.gatewayBinary.path, ["audit", "verify-bundle", bundle.path] + (genesis.map { ["--genesis", $0.path] } ?? []))
        return Verdict(
            status: run.status, events: run.stdout.split(separator: "\n").filter { $0.hasPrefix("event ") }.map(String.init),
            output: run.stdout + run.stderr)
    }

    static func pythonVerifier(_ bundle: URL, genesis: URL?) async throws -> Verdict {
        let script = TestPaths.packageRoot.appendingPathComponent("tools/verify_bundle.py").path
        let run = try await runProcess(TestPaths.python, [script, bundle.path] + (genesis.map { ["--genesis", $0.path] } ?? []))
        return Verdict(
            status: run.status, events: run.stdout.split(separator: "\n").filter { $0.hasPrefix("event ") }.map(String.init),
            output: run.stdout + run.stderr)
    }

    @Test(arguments: SuiteName.allCases) func bothVerifiersAcceptTheExportAndRefuseEveryTampering(suite: SuiteName) async throws {
        let node = try await TestNode.start("bundle_\(suite.rawValue)", suite: suite)
        let registry = node.client(DemoConsortium.registry)
        #expect(
            try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: SyntheticCitizens.generate(count: 6, seed: 9)))
                .status == 201)
        let social = node.client(DemoConsortium.socialSecurity)
        var allowed: [String] = []
        for id in ["C0000001", "C0000002"] {
            let read = try await social.send(
                "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [id], purpose: "benefit_eligibility"))
            #expect(read.status == 200)
            allowed.append(try read.decode(API.RecordsResponse.self).receipt.eventId ?? "")
        }
        let denied = try await node.client(DemoConsortium.housing).send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ["C0000001"], purpose: "tenant_screening"))
        #expect(denied.status == 403)
        let deniedEvent = try #require(denied.problem?.eventId)
        let configuration = node.running.node.configuration
        try await node.running.stop()
        let genesis = configuration.dataDirectory.appendingPathComponent("genesis.json")
        let work = try TestPaths.temporaryDirectory("bundle")

        func export(_ name: String, _ selection: [String]) async throws -> URL {
            let file = work.appendingPathComponent(name)
            let run = try await runProcess(
                TestPaths.gatewayBinary.path,
                ["audit", "export", "--database-url", node.databaseURL, "--data-dir", configuration.dataDirectory.path, "-o", file.path] + selection)
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
            return file
        }
        // By department, and by ids (one of them a denial).
        let byDepartment = try await export("department.json", ["--department", DemoConsortium.socialSecurity, "--from", "2000-01-01"])
        let byID = try await export("ids.json", ["--event", allowed[0], "--event", deniedEvent])
        for (file, ids) in [(byDepartment, allowed), (byID, [allowed[0], deniedEvent])] {
            let swift = try await Self.swiftVerifier(file, genesis: genesis)
            let python = try await Self.pythonVerifier(file, genesis: genesis)
            #expect(swift.status == 0 && python.status == 0, "swift \(swift)\npython \(python)")
            #expect(swift.events == python.events, "swift \(swift)\npython \(python)")
            #expect(Set(swift.events.map { String($0.split(separator: " ")[1]) }) == Set(ids), "\(swift)")
        }
        #expect(try await Self.swiftVerifier(byID, genesis: genesis).events.contains { $0.contains(" deny ") })
        // A selection that names an unknown event is refused with what to do.
        let unknown = try await runProcess(
            TestPaths.gatewayBinary.path,
            [
                "audit", "export", "--database-url", node.databaseURL, "--data-dir", configuration.dataDirectory.path, "-o",
                work.appendingPathComponent("x.json").path, "--event", "no-such-event",
            ])
        #expect(unknown.status == 1 && unknown.stderr.contains("no committed access event no-such-event"), "\(unknown.stderr)")

        // Tamperings, each on a fresh copy of the by-id bundle: both verifiers refuse every one (exit 2).
        let original = try JSONSerialization.jsonObject(with: Data(contentsOf: byID)) as! [String: Any]
        func flipHex(_ text: String, at fraction: Double) -> String {
            var chars = Array(text)
            let index = min(chars.count - 1, Int(Double(chars.count) * fraction))
            chars[index] = chars[index] == "0" ? "1" : "0"
            return String(chars)
        }
        typealias Edit = (inout [String: Any]) -> Void
        func editProof(_ event: Int, _ change: @escaping (inout [String: Any]) -> Void) -> Edit {
            { bundle in
                var events = bundle["events"] as! [[String: Any]]
                var proof = events[event]["proof"] as! [String: Any]
                change(&proof)
                events[event]["proof"] = proof
                bundle["events"] = events
            }
        }
        let otherKey = try suite.makeSuite().generateSigningKey().publicKey.pemRepresentation
        let tamperings: [(String, Edit)] = [
            ("a byte of the event's transaction", editProof(0, { $0["transaction"] = flipHex($0["transaction"] as! String, at: 0.6) })),
            ("the transaction's signature", editProof(0, { $0["transaction"] = flipHex($0["transaction"] as! String, at: 0.97) })),
            ("the header's transactions root", editProof(0, { $0["header"] = flipHex($0["header"] as! String, at: 0.45) })),
            ("the certificate emptied", editProof(0, { $0["certificate"] = [[String: Any]]() })),
            (
                "a certificate signature",
                editProof(
                    0,
                    { proof in
                        var certificate = proof["certificate"] as! [[String: Any]]
                        certificate[0]["signature"] = flipHex(certificate[0]["signature"] as! String, at: 0.5)
                        proof["certificate"] = certificate
                    })
            ),
            ("the commit evidence removed", editProof(0, { $0["commitment"] = nil })),
            (
                "the commit evidence's child",
                editProof(
                    0,
                    { proof in
                        var commitment = proof["commitment"] as! [String: Any]
                        var headers = commitment["headers"] as! [String]
                        headers[headers.count - 1] = flipHex(headers[headers.count - 1], at: 0.9)
                        commitment["headers"] = headers
                        proof["commitment"] = commitment
                    })
            ),
            ("the leaf index", editProof(0, { $0["leafIndex"] = (($0["leafIndex"] as! Int) + 1) })),
            (
                "the event id",
                { bundle in
                    var events = bundle["events"] as! [[String: Any]]
                    events[0]["eventId"] = "someone-else"
                    bundle["events"] = events
                }
            ),
            (
                "the height",
                { bundle in
                    var events = bundle["events"] as! [[String: Any]]
                    events[0]["height"] = (events[0]["height"] as! Int) + 1
                    bundle["events"] = events
                }
            ),
            ("the selection", { bundle in bundle["selection"] = ["eventIds": [allowed[0]]] }),
            (
                "an event twice",
                { bundle in
                    var events = bundle["events"] as! [[String: Any]]
                    events.append(events[0])
                    bundle["events"] = events
                }
            ),
            (
                "a member's key in the genesis",
                { bundle in
                    var genesis = bundle["genesis"] as! [String: Any]
                    var members = genesis["members"] as! [[String: Any]]
                    members[0]["publicKey"] = otherKey
                    genesis["members"] = members
                    bundle["genesis"] = genesis
                }
            ),
            ("the format", { bundle in bundle["format"] = "something-else/v9" }),
        ]
        for (index, (what, edit)) in tamperings.enumerated() {
            var bundle = original
            edit(&bundle)
            let file = work.appendingPathComponent("tampered-\(index).json")
            try JSONSerialization.data(withJSONObject: bundle, options: [.sortedKeys]).write(to: file)
            for trusted in [genesis, nil] {
                let swift = try await Self.swiftVerifier(file, genesis: trusted)
                let python = try await Self.pythonVerifier(file, genesis: trusted)
                // Without the trusted genesis, a bundle whose genesis changed one member's key still fails on that
                // member's signatures: no trusted genesis makes nothing acceptable that was not signed.
                #expect(swift.status == 2 && python.status == 2, "\(what) (trusted genesis: \(trusted != nil)):\nswift \(swift)\npython \(python)")
                #expect(swift.events.isEmpty || swift.events == python.events, "\(what)")
            }
        }
        // The untouched copy, re-serialized the same way, still verifies: the refusals are the tamperings'.
        let control = work.appendingPathComponent("control.json")
        try JSONSerialization.data(withJSONObject: original, options: [.sortedKeys]).write(to: control)
        let swift = try await Self.swiftVerifier(control, genesis: genesis)
        let python = try await Self.pythonVerifier(control, genesis: genesis)
        #expect(swift.status == 0 && python.status == 0 && swift.events == python.events, "swift \(swift)\npython \(python)")
        try? FileManager.default.removeItem(at: work)
    }

    /// A consortium of four validators admits a fifth by governance (proposal, two approvals: ⌈2·4/3⌉ = 3): from the
    /// next height the five sign, in epoch 1, with a quorum of four. A bundle with an event before and one after the
    /// change verifies in both verifiers only with the governance history whole and in order, and only with the
    /// certificate the new set signed in the new epoch.
    @Test(arguments: SuiteName.allCases) func bothVerifiersFollowAValidatorSetChange(suite name: SuiteName) async throws {
        let suite = try name.makeSuite()
        let keys = (1...5).map { _ in suite.generateSigningKey() }
        let ids = (1...5).map { "v\($0)" }
        func member(_ index: Int) -> Genesis.Member {
            .init(nodeID: ids[index], department: "d\(index + 1)", role: .validator, publicKey: keys[index].publicKey.pemRepresentation, address: "")
        }
        let genesis = Genesis(chainID: "bundle-governance", suite: name, members: (0..<4).map(member), createdAtMs: 0)
        var ledger = try Ledger(genesis: genesis, suite: suite)
        let tree = MerkleTree(suite: suite)
        var blocks: [Block] = []
        func transaction(_ kind: Transaction.Kind, by index: Int, nonce: UInt64, payload: [UInt8]) throws -> Transaction {
            try Transaction(
                chainID: genesis.chainID, kind: kind, submitter: ids[index], nonce: nonce, timestampMs: 1_000, payload: payload, signer: keys[index])
        }
        func certify(_ header: BlockHeader, signers: [Int], epoch: UInt64) throws -> [CommitSignature] {
            let message = CommitSignature.message(header: header, headerHash: header.hash(suite: suite), epoch: epoch)
            return try signers.map { CommitSignature(validator: ids[$0], signature: try keys[$0].sign(message)) }
        }
        func append(_ transactions: [Transaction], signers: [Int]) throws {
            let height = ledger.height + 1
            let header = BlockHeader(
                chainID: genesis.chainID, height: height, round: height, parentHash: ledger.tipHash,
                transactionsRoot: tree.root(leafHashes: Block.transactionLeafHashes(transactions, tree: tree)),
                transactionCount: UInt64(transactions.count), justifyDigest: [], timeoutTag: 0, proposer: 0, timestampMs: Int64(height) * 1_000)
            let block = Block(
                header: header, transactions: transactions,
                certificate: try certify(header, signers: signers, epoch: ledger.governance.epoch(atHeight: height)))
            let applied = try ledger.apply(block)
            #expect(applied.skipped.isEmpty, "\(applied.skipped)")
            blocks.append(block)
        }
        func event(_ id: String) -> AccessEvent {
            AccessEvent(
                eventID: id, requester: "d2", action: "read", category: "citizen", recordKeys: [suite.hash([1])], purpose: "benefit_eligibility",
                policyBundleHash: suite.hash([2]), decision: .allow, determiningPolicies: ["p"], requestDigest: suite.hash([3]), timestampMs: 1_000)
        }
        let oldSet = [0, 1, 2]
        let newSet = [1, 2, 3, 4]
        try append(
            [try transaction(.proposal, by: 0, nonce: 1, payload: GovernanceProposal(proposalID: "admit-v5", change: .addMember(member(4))).encoded)],
            signers: oldSet)
        try append(
            [
                try transaction(.approval, by: 1, nonce: 1, payload: GovernanceApproval(proposalID: "admit-v5").encoded),
                try transaction(.accessLog, by: 0, nonce: 2, payload: event("before").encoded),
            ], signers: oldSet)
        try append([try transaction(.approval, by: 2, nonce: 1, payload: GovernanceApproval(proposalID: "admit-v5").encoded)], signers: oldSet)
        #expect(ledger.governance.epoch(atHeight: 4) == 1 && ledger.governance.validators(atHeight: 4).count == 5)
        try append([try transaction(.accessLogBatch, by: 4, nonce: 1, payload: AccessLogBatch(events: [event("after")]).encoded)], signers: newSet)
        try append([], signers: newSet)

        // The block that decides the change is committed in the old epoch: the old set certifies a child of it (the
        // old epoch's last round), which the new epoch's first block does not have to be.
        let decided = blocks[2].header
        let oldEpochChild = BlockHeader(
            chainID: genesis.chainID, height: 4, round: decided.round + 1, parentHash: decided.hash(suite: suite),
            transactionsRoot: tree.root(leafHashes: []), transactionCount: 0, justifyDigest: [], timeoutTag: 0, proposer: 0, timestampMs: 3_500)
        let oldEpochCommit = InclusionProof.Commitment(headers: [oldEpochChild], certificate: try certify(oldEpochChild, signers: oldSet, epoch: 0))
        func proof(height: Int, index: Int) -> InclusionProof {
            let block = blocks[height - 1]
            let child = blocks[height]
            return InclusionProof(
                transaction: block.transactions[index], leafIndex: index,
                auditPath: tree.inclusionProof(index: index, leafHashes: Block.transactionLeafHashes(block.transactions, tree: tree)),
                header: block.header, certificate: block.certificate,
                commitment: height == 3 ? oldEpochCommit : InclusionProof.Commitment(headers: [child.header], certificate: child.certificate))
        }
        let governance = [proof(height: 1, index: 0), proof(height: 2, index: 0), proof(height: 3, index: 0)]
        let events = [
            EvidenceBundle.Event(eventId: "before", height: 2, proof: proof(height: 2, index: 1)),
            EvidenceBundle.Event(eventId: "after", height: 4, proof: proof(height: 4, index: 0)),
        ]
        let work = try TestPaths.temporaryDirectory("bundle-governance")
        defer { try? FileManager.default.removeItem(at: work) }
        let genesisFile = work.appendingPathComponent("genesis.json")
        try genesis.fileBytes().write(to: genesisFile)
        func verdicts(_ name: String, _ bundle: EvidenceBundle) async throws -> (swift: Verdict, python: Verdict) {
            let file = work.appendingPathComponent(name)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try encoder.encode(bundle).write(to: file)
            return (try await Self.swiftVerifier(file, genesis: genesisFile), try await Self.pythonVerifier(file, genesis: genesisFile))
        }
        let valid = try await verdicts(
            "valid.json", EvidenceBundle(exportedAtMs: 0, selection: .init(), genesis: genesis, governance: governance, events: events))
        #expect(valid.swift.status == 0 && valid.python.status == 0, "swift \(valid.swift)\npython \(valid.python)")
        #expect(valid.swift.events == valid.python.events && valid.swift.events.count == 2, "swift \(valid.swift)\npython \(valid.python)")
        #expect(valid.swift.events.last?.hasSuffix(" v5") == true, "the admitted validator logged the second event: \(valid.swift)")

        // The deciding approval left out: the set at height 4 is still the genesis four, and v5 signed nothing valid.
        let withoutDecision = try await verdicts(
            "without-decision.json",
            EvidenceBundle(exportedAtMs: 0, selection: .init(), genesis: genesis, governance: Array(governance.prefix(2)), events: events))
        // The approvals out of order.
        let reordered = try await verdicts(
            "reordered.json",
            EvidenceBundle(
                exportedAtMs: 0, selection: .init(), genesis: genesis, governance: [governance[0], governance[2], governance[1]], events: events))
        // Block 4 certified by the old set in the old epoch (as a superseded majority would sign it).
        let stale = blocks[3]
        let staleProof = InclusionProof(
            transaction: stale.transactions[0], leafIndex: 0,
            auditPath: tree.inclusionProof(index: 0, leafHashes: Block.transactionLeafHashes(stale.transactions, tree: tree)), header: stale.header,
            certificate: try certify(stale.header, signers: oldSet, epoch: 0),
            commitment: InclusionProof.Commitment(headers: [blocks[4].header], certificate: blocks[4].certificate))
        let oldEpoch = try await verdicts(
            "old-epoch.json",
            EvidenceBundle(
                exportedAtMs: 0, selection: .init(), genesis: genesis, governance: governance,
                events: [events[0], EvidenceBundle.Event(eventId: "after", height: 4, proof: staleProof)]))
        for (what, verdict) in [("without the decision", withoutDecision), ("reordered", reordered), ("old epoch", oldEpoch)] {
            #expect(verdict.swift.status == 2 && verdict.python.status == 2, "\(what):\nswift \(verdict.swift)\npython \(verdict.python)")
        }
    }

    /// The Python verifier's SM2 (its own curve arithmetic, SM3 from gmssl) on the published GB/T 32918.5 Annex A
    /// signature from ../shared/vectors/sm2.txt: it verifies, and a changed message or signature does not.
    @Test func thePythonVerifiersSM2CheckPassesTheStandardsVector() async throws {
        let script = """
            import sys
            sys.path.insert(0, sys.argv[1])
            import verify_bundle as vb
            fields, inside = {}, False
            for line in open(sys.argv[2]):
                line = line.strip()
                if line == "vector=sign_std_annexA":
                    inside = True
                elif inside and line.startswith("vector="):
                    break
                elif inside and "=" in line and not line.startswith("#"):
                    key, value = line.split("=", 1)
                    fields[key] = value
            key = object.__new__(vb.SM2Key)
            key.point = (int(fields["pub_x"], 16), int(fields["pub_y"], 16))
            key.point_hex = fields["pub_x"] + fields["pub_y"]
            signature, message = bytes.fromhex(fields["der_sig"]), bytes.fromhex(fields["msg_hex"])
            print(key.verify(signature, message), key.verify(signature, message + b"!"),
                  key.verify(signature[:-1] + bytes([signature[-1] ^ 1]), message))
            """
        let run = try await runProcess(
            TestPaths.python,
            ["-c", script, TestPaths.packageRoot.appendingPathComponent("tools").path, TestPaths.vectors.appendingPathComponent("sm2.txt").path])
        #expect(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "True False False", "\(run.stdout)\(run.stderr)")
    }
}
