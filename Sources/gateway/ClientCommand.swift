import ArgumentParser
import Foundation
import GatewayClient
import GatewaySchema
import GatewayWire

/// `gateway client`: each operation of the data API by name, signed as the department (the suite's digest and
/// signature) over its TLS client identity. The answer's JSON goes to standard output; a refusal prints its problem
/// (status, code, detail) on standard error and exits 1.
struct ClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client",
        abstract:
            "Use a node's data API as a department: publish, read, request, erase, aggregate, statistics, consent, audit events, proofs.",
        discussion: """
            Every subcommand reaches the node the way `gateway call` does: --profile <dir>/client.json (from `gateway \
            init`), or --cluster DIR --node ID, or --url/--department/--key/--suite with the TLS options. Grants are \
            issued, listed and revoked with `gateway grant`; governance with `gateway governance`; any other request \
            with `gateway call`.
            """,
        subcommands: [
            Health.self, Publish.self, Read.self, Request.self, Erase.self, Aggregate.self, Statistics.self, Consent.self, Events.self, Proof.self,
        ])

    static func send(_ target: Governance.Target, _ method: String, _ path: String, body: [UInt8] = []) async throws {
        let response = try await target.client().send(method, path, body: body)
        guard response.isSuccess else {
            let problem = response.problem.map { "\($0.code): \($0.detail)" } ?? String(decoding: response.body.prefix(500), as: UTF8.self)
            throw CommandFailure("the node answered HTTP \(response.status) \(problem)")
        }
        say(String(decoding: response.body, as: UTF8.self))
    }

    static func json(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value))
    }

    /// A JSON file (or - for standard input), at most 64 MiB.
    static func readJSON(_ path: String) throws -> JSONValue {
        let data = path == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try? Data(contentsOf: URL(fileURLWithPath: path))
        guard let data else { throw CommandFailure("cannot read \(path)") }
        guard data.count <= 64 << 20 else { throw CommandFailure("\(path) is larger than 64 MiB: publish it in parts") }
        do { return try JSONValue.parse(data) } catch { throw CommandFailure("\(path) is not valid JSON: \(error)") }
    }

    struct Health: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The node's liveness: status, chain, height, policy bundle.")
        @OptionGroup var target: Governance.Target
        @Option(help: "Wait up to this many seconds (1…3600) for the node to be up and its status ok, asking every half second.")
        var wait: Int?
        func validate() throws {
            if let wait, !(1...3_600).contains(wait) { throw ValidationError("--wait must be 1…3600 seconds") }
        }
        func run() async throws {
            guard let wait else { return try await ClientCommand.send(target, "GET", "/v1/health") }
            let client = try target.client()
            let deadline = ContinuousClock.now + .seconds(wait)
            var last = "no answer"
            while true {
                do {
                    let response = try await client.send("GET", "/v1/health")
                    let status = (try? response.decode(API.Health.self))?.status ?? "HTTP \(response.status)"
                    if status == "ok" { return say(String(decoding: response.body, as: UTF8.self)) }
                    last = "status \(status)"
                } catch {
                    last = "\(error)"
                }
                guard ContinuousClock.now < deadline else { throw CommandFailure("the node was not ok within \(wait) s (\(last))") }
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish records of a category held by this department (encrypted at rest, each anchored on chain).",
            discussion: "The file holds a JSON array of records, or {\"records\": [...]}; each record is validated against the category's schema.")
        @OptionGroup var target: Governance.Target
        @Argument(help: "The record category, e.g. citizen.") var category: String
        @Argument(help: "A JSON file of records, or - for standard input.") var file: String
        func run() async throws {
            let records: [JSONValue]
            switch try ClientCommand.readJSON(file) {
            case .array(let items): records = items
            case .object(let members) where members["records"]?.arrayValue != nil: records = members["records"]!.arrayValue!
            default: throw CommandFailure("\(file) must hold a JSON array of records or {\"records\": [...]}")
            }
            try await ClientCommand.send(
                target, "POST", "/v1/records/\(pathSegment(category))", body: try ClientCommand.json(API.PublishRequest(records: records)))
        }
    }

    struct Read: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Read one record for a purpose (decided by policy and logged on chain).")
        @OptionGroup var target: Governance.Target
        @Argument(help: "The record category.") var category: String
        @Argument(help: "The record's id.") var id: String
        @Option(help: "The purpose of the access, as the policy bundle names it.") var purpose: String
        func run() async throws {
            var query = URLComponents()
            query.queryItems = [URLQueryItem(name: "purpose", value: purpose)]
            try await ClientCommand.send(
                target, "GET", "/v1/records/\(pathSegment(category))/\(pathSegment(id))?\(query.percentEncodedQuery ?? "")")
        }
    }

    struct Erase: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Erase a record this department holds (PIPL art. 47, GDPR art. 17): its data key destroyed, an erasure on chain.",
            discussion: """
                The node deletes the record with its wrapped data key and aggregate ciphertexts, compensates the running \
                sums, and answers once the erasure transaction (salted record key only) is committed. Later reads get \
                410 record_erased naming it. Only the department that published the record can erase it.
                """)
        @OptionGroup var target: Governance.Target
        @Argument(help: "The record category.") var category: String
        @Argument(help: "The record's id.") var id: String
        func run() async throws {
            try await ClientCommand.send(target, "DELETE", "/v1/records/\(pathSegment(category))/\(pathSegment(id))")
        }
    }

    struct Request: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Request several records at once for a purpose (one decision, logged on chain).")
        @OptionGroup var target: Governance.Target
        @Argument(help: "The record category.") var category: String
        @Argument(help: "The records' ids.") var ids: [String]
        @Option(help: "The purpose of the access.") var purpose: String
        func validate() throws { guard !ids.isEmpty else { throw ValidationError("give at least one record id") } }
        func run() async throws {
            try await ClientCommand.send(
                target, "POST", "/v1/requests", body: try ClientCommand.json(API.RecordsRequest(category: category, ids: ids, purpose: purpose)))
        }
    }

    /// What a sum over records names: the category, the field, the groups and the purpose.
    struct SumOptions: ParsableArguments {
        @Argument(help: "The record category.") var category: String
        @Option(help: "The numeric field to sum.") var field: String
        @Option(help: "Fields to group by (comma-separated).") var groupBy: String = ""
        @Option(help: "The purpose of the access.") var purpose: String
        var groups: [String] { groupBy.split(separator: ",").map(String.init) }
    }

    struct Aggregate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sum a field over this node's records, by groups (homomorphically; aggregates only).")
        @OptionGroup var target: Governance.Target
        @OptionGroup var sum: SumOptions
        func run() async throws {
            let request = API.AggregateRequest(category: sum.category, field: sum.field, groupBy: sum.groups, purpose: sum.purpose)
            try await ClientCommand.send(target, "POST", "/v1/aggregates", body: try ClientCommand.json(request))
        }
    }

    struct Statistics: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A statistic across departments: the holders' encrypted sums, decrypted only as aggregates by t share holders.")
        @OptionGroup var target: Governance.Target
        @OptionGroup var sum: SumOptions
        @Option(help: "Holder departments to ask (comma-separated). Default: every department holding the category.") var holders: String?
        func run() async throws {
            let request = API.StatisticsRequest(
                category: sum.category, field: sum.field, groupBy: sum.groups, purpose: sum.purpose,
                holders: holders.map { $0.split(separator: ",").map(String.init) })
            try await ClientCommand.send(target, "POST", "/v1/statistics", body: try ClientCommand.json(request))
        }
    }

    struct Consent: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record a citizen's consent for a purpose, or its withdrawal (on chain, salted).")
        @OptionGroup var target: Governance.Target
        @Argument(help: "The citizen's id.") var citizen: String
        @Option(help: "The purpose consented to.") var purpose: String
        @Flag(help: "Record a withdrawal instead of a consent.") var withdraw = false
        func run() async throws {
            try await ClientCommand.send(
                target, "POST", "/v1/consents",
                body: try ClientCommand.json(API.ConsentRequest(citizenId: citizen, purpose: purpose, given: !withdraw)))
        }
    }

    struct Events: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List access events from the chain (a regulator sees all; a department its own), a page at a time.")
        @OptionGroup var target: Governance.Target
        @Option(help: "Events per page (1…1000).") var limit: Int = 100
        @Option(help: "The cursor a previous page returned as next.") var after: String?
        func validate() throws { guard (1...1_000).contains(limit) else { throw ValidationError("--limit must be 1…1000") } }
        func run() async throws {
            var query = URLComponents()
            query.queryItems = [URLQueryItem(name: "limit", value: String(limit))] + (after.map { [URLQueryItem(name: "after", value: $0)] } ?? [])
            try await ClientCommand.send(target, "GET", "/v1/audit/events?\(query.percentEncodedQuery ?? "")")
        }
    }

    struct Proof: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch an access event's inclusion proof (check it with `gateway verify-proof --genesis genesis.json FILE`).")
        @OptionGroup var target: Governance.Target
        @Argument(help: "The access event's id.") var eventID: String
        func run() async throws { try await ClientCommand.send(target, "GET", "/v1/audit/events/\(pathSegment(eventID))/proof") }
    }
}
