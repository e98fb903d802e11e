import Foundation

/// Result slots for `parallelMap`.
private final class Slots<T>: @unchecked Sendable {
    // Safety: slot i is written by exactly one worker, and read only after concurrentPerform returns.
    let buffer: UnsafeMutableBufferPointer<T?>

    init(_ count: Int) {
        buffer = .allocate(capacity: count)
        buffer.initialize(repeating: nil)
    }

    deinit {
        buffer.deinitialize()
        buffer.deallocate()
    }
}

/// Computes `body(0..<count)` on all cores and returns the results in index order.
/// Each worker writes only its own slot, so the slots need no lock.
package func parallelMap<T: Sendable>(_ count: Int, _ body: @Sendable (Int) -> T) -> [T] {
    let slots = Slots<T>(count)
    DispatchQueue.concurrentPerform(iterations: count) { index in slots.buffer[index] = body(index) }
    return slots.buffer.map { $0! }
}
