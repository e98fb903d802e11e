import GatewayNode
import Hummingbird
import NIOCore

/// Times every request into the node's metrics, labelled by the matched route pattern (`/v1/records/{category}/{id}`,
/// never the path with its ids), the method and the final status: outermost, so problem responses count with theirs.
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = GatewayContext
    let metrics: NodeMetrics

    func handle(_ request: Request, context: GatewayContext, next: (Request, GatewayContext) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let route = { context.endpointPath ?? "unmatched" }
        do {
            let response = try await next(request, context)
            record(route(), request, Int(response.status.code), since: started)
            return response
        } catch let error as any HTTPResponseError {
            record(route(), request, Int(error.status.code), since: started)
            throw error
        } catch {
            record(route(), request, 500, since: started)
            throw error
        }
    }

    func record(_ route: String, _ request: Request, _ status: Int, since started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        let nanoseconds = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        metrics.request(route: route, method: request.method.rawValue, status: status, nanoseconds: nanoseconds)
    }
}
