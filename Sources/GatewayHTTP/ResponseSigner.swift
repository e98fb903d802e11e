import GatewayCrypto
import GatewayNode
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// Signs every answer with the node's key (RFC 9421, see `RequestSigning`): outside the problem mapping, so refusals
/// are signed too, and bound to the request answered (its method, path, query and, when signed, its
/// `Signature-Input`). A department keeps the response and its headers as proof of what the node gave it.
struct ResponseSigner: RouterMiddleware {
    typealias Context = GatewayContext
    let key: any SigningKey
    /// `node:<node-id>`.
    let keyID: String
    let suite: any CryptoSuite
    let tls: Bool

    func handle(_ request: Request, context: GatewayContext, next: (Request, GatewayContext) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        let collected = ResponseCollector()
        try await response.body.write(collected)
        let body = collected.bytes
        let requestMessage = HTTPMessageSignatures.Message(
            method: request.method.rawValue, targetURI: SignatureAuthenticator.targetURI(of: request, tls: tls),
            fields: request.headers.map { ($0.name.canonicalName, $0.value) })
        let fields = response.headers.map { ($0.name.canonicalName, $0.value) }
        let status = Int(response.status.code)
        let signed = try await HeavyWork.run(forBytes: body.count) { [key, keyID, suite] in
            try RequestSigning.signResponse(
                status: status, fields: fields, body: body, request: requestMessage, keyID: keyID, key: key, suite: suite)
        }
        for (name, value) in signed {
            guard let name = HTTPField.Name(name) else { continue }
            response.headers[name] = value
        }
        response.body = ResponseBody(byteBuffer: ByteBuffer(bytes: body))
        return response
    }
}

/// Gathers a response body written through Hummingbird's writer interface.
final class ResponseCollector: ResponseBodyWriter, @unchecked Sendable {
    private let lock = NIOLock()
    private var buffer = ByteBuffer()

    var bytes: [UInt8] { lock.withLock { Array(buffer.readableBytesView) } }

    func write(_ buffer: ByteBuffer) async throws {
        var buffer = buffer
        lock.withLock { _ = self.buffer.writeBuffer(&buffer) }
    }

    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
