import NIOCore

/// Counts each accepted TCP connection once, whether it became active before or after this
/// handler joined the pipeline.
final class ConnectionCountingHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let core: FakeSinchCore
    private var counted = false

    init(core: FakeSinchCore) {
        self.core = core
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { count() }
    }

    func channelActive(context: ChannelHandlerContext) {
        count()
        context.fireChannelActive()
    }

    private func count() {
        guard !counted else { return }
        counted = true
        core.state.withLock { $0.connectionOpened() }
    }
}

@available(*, unavailable)
extension ConnectionCountingHandler: Sendable {}
