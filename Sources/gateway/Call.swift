import ArgumentParser
import Foundation
import GatewayClient

/// `gateway call`: any operation of the API, signed as a department (the suite's digest and signature) over its TLS
/// identity, so an operator never writes a request signer by hand.
struct Call: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Send one signed request to a node's API and print the answer (any operation: publish, read, request, aggregate, consent, audit, proofs).",
        discussion: """
            Examples, against a node of a local cluster:
              gateway call --cluster ./cluster --node node-1 POST /v1/records/citizen --body records.json
              gateway call --cluster ./cluster --node node-1 --department regulator GET '/v1/audit/events?limit=10'
              gateway call --cluster ./cluster --node node-1 --department regulator GET /v1/audit/events/<event-id>/proof
            or against any node: --url https://host:port --department <id> --key <id>-key.pem --suite sm \
            --server-certificate <node>/tls-cert.pem --client-certificate <id>-tls-cert.pem --client-key <id>-tls-key.pem. \
            The body (a file, or - for standard input) is sent as JSON; the request carries an RFC 9421 signature \
            (Signature-Input, Signature; keyid the department) and Content-Digest (sm3= or sha-256=, as the suite says) \
            (README, "Signed requests and responses"). \
            The answer's body goes to standard output, its status to standard error; the exit code is 0 for 2xx, 1 otherwise.
            """)

    @OptionGroup var target: Governance.Target

    @Argument(help: "HTTP method: GET, POST, PUT or DELETE.")
    var method: String

    @Argument(help: "Path with query, e.g. /v1/audit/events?limit=10.")
    var path: String

    @Option(help: "A JSON body: a file, or - for standard input.")
    var body: String?

    func validate() throws {
        guard ["GET", "POST", "PUT", "DELETE"].contains(method.uppercased()) else { throw ValidationError("method must be GET, POST, PUT or DELETE") }
        guard path.hasPrefix("/") else { throw ValidationError("the path starts with /, e.g. /v1/health") }
    }

    func run() async throws {
        let client = try target.client()
        var bytes: [UInt8] = []
        if let body {
            let data = body == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try? Data(contentsOf: URL(fileURLWithPath: body))
            guard let data else { throw CommandFailure("cannot read the body \(body)") }
            bytes = Array(data)
        }
        let response = try await client.send(method.uppercased(), path, body: bytes)
        note("HTTP \(response.status)\(response.problem.map { " \($0.code)" } ?? "")")
        say(String(decoding: response.body, as: UTF8.self))
        if !(200..<300).contains(response.status) { throw ExitCode.failure }
    }
}
