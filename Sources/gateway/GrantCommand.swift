import ArgumentParser
import Foundation
import GatewayClient
import GatewayNode
import GatewayWire

/// `gateway grant issue|list|revoke`: grants on chain, through the data holder's node.
struct GrantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grant",
        abstract: "Issue, list and revoke grants on chain through the data holder's node.",
        discussion: """
            A grant lets another department use one of your record categories for a purpose (and the purposes under it) \
            until an expiry, optionally only some fields. It is recorded on chain by your own node, needs a permit for \
            Action::"grant" on the category, and counts only where a policy reads context.grant — which then binds the \
            answer to the grant's fields and expiry (see README, "Grants"). Revoking takes effect from the next request. \
            Target your node with --url, --department and --key (and --suite), or in a local cluster with --cluster DIR \
            --node node-k.
            """,
        subcommands: [Issue.self, List.self, Revoke.self]
    )

    static func show(_ grant: API.GrantView) -> String {
        let expiry = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(grant.expiresAtMs) / 1000))
        let state = grant.revoked ? "revoked" : grant.live ? "live" : "expired"
        let fields = grant.fields.isEmpty ? "fields as the policies allow" : "fields \(grant.fields.joined(separator: ","))"
        return "\(grant.grantId)  \(state)  \(grant.grantor) → \(grant.grantee)  \(grant.category) for \(grant.purpose), \(fields), until \(expiry)"
    }

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Grant a department use of a category for a purpose; waits for the block.")

        @OptionGroup var target: Governance.Target

        @Option(help: "Department that receives the grant.")
        var grantee: String

        @Option(help: "Record category granted (e.g. citizen).")
        var category: String

        @Option(help: "Purpose granted (it covers the purposes under it in the bundle's hierarchy).")
        var purpose: String

        @Option(help: "Comma-separated fields the grantee may receive (default: whatever the policies allow).")
        var fields: String?

        @Option(help: "End of the grant: a UTC date (2027-06-30, its midnight) or instant (2027-06-30T12:00:00Z).")
        var expires: String

        func run() async throws {
            let client = try target.client()
            let list = fields.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
            note("granting \(grantee) \(category) for \(purpose) through \(client.baseURL) as \(client.department); waiting for the block")
            let response = try await client.send(
                "POST", "/v1/grants",
                json: API.GrantRequest(
                    grantee: grantee, category: category, purpose: purpose, fields: list, expiresAt: expires))
            try Governance.check(response)
            let issued = try response.decode(API.GrantResponse.self)
            print(GrantCommand.show(issued.grant))
            print(
                "committed in block \(issued.height) (transaction \(issued.transaction)); decision logged as event \(issued.receipt.eventId ?? "-")")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the grants your department gave or received, as the node's chain records them.")

        @OptionGroup var target: Governance.Target

        func run() async throws {
            let response = try await target.client().send("GET", "/v1/grants")
            try Governance.check(response)
            let grants = try response.decode(API.GrantList.self).grants
            if grants.isEmpty { print("no grants given or received") }
            for grant in grants { print(GrantCommand.show(grant)) }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a grant your department gave; waits for the block.")

        @OptionGroup var target: Governance.Target

        @Option(help: "Id of the grant (see `gateway grant list`).")
        var id: String

        func run() async throws {
            let client = try target.client()
            note("revoking \(id) through \(client.baseURL) as \(client.department); waiting for the block")
            let path = "/v1/grants/\(pathSegment(id))"
            let response = try await client.send("DELETE", path)
            try Governance.check(response)
            let revoked = try response.decode(API.GrantResponse.self)
            print(GrantCommand.show(revoked.grant))
            print("revocation committed in block \(revoked.height) (transaction \(revoked.transaction))")
        }
    }
}
