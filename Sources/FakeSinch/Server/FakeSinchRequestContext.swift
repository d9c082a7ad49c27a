import Hummingbird
import NIOCore

/// Hummingbird's basic context plus the connection, which the `.reset` and `.hang` faults act on.
struct FakeSinchRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
