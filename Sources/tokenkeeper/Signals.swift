import Foundation

enum Signals {
    /// Unblocks SIGTERM and SIGINT: a parent may have started us with them blocked (the mask
    /// survives exec), and then a graceful stop would never be asked for.
    static func unblockTermination() {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }
}
