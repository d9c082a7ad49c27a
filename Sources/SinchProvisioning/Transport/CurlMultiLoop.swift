import CCurl
import Dispatch
import Foundation
import Synchronization

/// The thread behind ``CurlTransport``: owns the multi handle and every easy handle.
///
/// Other threads only touch `shared` (under its mutex) and call `curl_multi_wakeup`, the one
/// multi call libcurl allows from another thread. Everything else below runs on the loop thread.
final class CurlMultiLoop: @unchecked Sendable {
    struct Submission: Sendable {
        let id: UInt64
        let request: HTTPRequest
        let continuation: CheckedContinuation<HTTPResponse, any Error>
    }

    private struct Shared {
        var submissions: [Submission] = []
        var cancellations: [UInt64] = []
        var stopping = false
    }

    let connectionsOpened = Atomic<Int>(0)
    /// Signalled when the loop thread has let go of every handle, so `stop` can wait for it.
    private let finished = DispatchSemaphore(value: 0)
    private let nextID = Atomic<UInt64>(1)
    private let shared = Mutex(Shared())
    private let multi: UnsafeMutableRawPointer
    private let configuration: CurlTransportConfiguration

    // Loop-thread state.
    private var active: [UInt64: CurlTransfer] = [:]
    private var idleHandles: [CurlEasyHandle] = []

    init(configuration: CurlTransportConfiguration) throws(TransportError) {
        if let failure = CurlGlobal.failure {
            throw TransportError(kind: .other, detail: failure)
        }
        guard let multi = tk_curl_multi_init() else {
            throw TransportError(kind: .other, detail: "libcurl could not create a multi handle")
        }
        self.multi = multi
        self.configuration = configuration
        _ = tk_curl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, configuration.maxIdleConnections)
        let thread = Thread { [self] in run() }
        thread.name = "tokenkeeper.curl"
        thread.start()
    }

    func newRequestID() -> UInt64 {
        nextID.add(1, ordering: .relaxed).oldValue
    }

    func submit(_ submission: Submission) {
        let accepted = shared.withLock { shared -> Bool in
            // Checked under the lock that `cancel` takes, so a cancellation is never missed.
            guard !shared.stopping, !Task.isCancelled else { return false }
            shared.submissions.append(submission)
            return true
        }
        if accepted {
            tk_curl_multi_wakeup(multi)
        } else {
            submission.continuation.resume(throwing: TransportError(kind: .cancelled, detail: "the transport stopped"))
        }
    }

    func cancel(_ id: UInt64) {
        let queued = shared.withLock { shared -> Submission? in
            if let index = shared.submissions.firstIndex(where: { $0.id == id }) {
                return shared.submissions.remove(at: index)
            }
            shared.cancellations.append(id)
            return nil
        }
        if let queued {
            queued.continuation.resume(throwing: TransportError(kind: .cancelled, detail: "the request was cancelled"))
        } else {
            tk_curl_multi_wakeup(multi)
        }
    }

    /// Fails what is queued or in flight and waits until the loop thread has released every easy
    /// handle. Waiting matters at exit: libcurl must not free TLS state while OpenSSL's exit
    /// handlers run. Called from ``CurlTransport``'s deinit, never from the loop thread.
    func stop() {
        shared.withLock { $0.stopping = true }
        tk_curl_multi_wakeup(multi)
        finished.wait()
    }

    deinit {
        // The loop thread holds `self` until `run` returns: no one can call into `multi` any more.
        tk_curl_multi_cleanup(multi)
    }

    // MARK: The loop thread

    private func run() {
        while true {
            let (submissions, cancellations, stopping) = shared.withLock { shared in
                defer {
                    shared.submissions.removeAll(keepingCapacity: true)
                    shared.cancellations.removeAll(keepingCapacity: true)
                }
                return (shared.submissions, shared.cancellations, shared.stopping)
            }
            if stopping {
                for submission in submissions {
                    submission.continuation.resume(
                        throwing: TransportError(kind: .cancelled, detail: "the transport stopped")
                    )
                }
                for id in Array(active.keys) {
                    finish(id, with: .failure(TransportError(kind: .cancelled, detail: "the transport stopped")))
                }
                idleHandles.removeAll()
                finished.signal()
                return
            }
            for submission in submissions {
                start(submission)
            }
            for id in cancellations where active[id] != nil {
                finish(id, with: .failure(TransportError(kind: .cancelled, detail: "the request was cancelled")))
            }
            var running: Int32 = 0
            tk_curl_multi_perform(multi, &running)
            collectFinished()
            // libcurl shortens the wait to its own next timeout; with nothing in flight the thread
            // sleeps until `curl_multi_wakeup` (an idle daemon costs no CPU here).
            tk_curl_multi_poll(multi, nil, 0, active.isEmpty ? 3_600_000 : 1_000, nil)
        }
    }

    private func start(_ submission: Submission) {
        let handle = idleHandles.popLast() ?? CurlEasyHandle()
        guard let handle else {
            submission.continuation.resume(
                throwing: TransportError(kind: .other, detail: "libcurl could not create an easy handle")
            )
            return
        }
        let transfer = CurlTransfer(
            id: submission.id,
            handle: handle,
            continuation: submission.continuation,
            maxBodyBytes: configuration.maxResponseBytes
        )
        if let failure = transfer.configure(for: submission.request, configuration: configuration) {
            transfer.release()
            idleHandles.append(handle)
            submission.continuation.resume(throwing: failure)
            return
        }
        let added = tk_curl_multi_add_handle(multi, handle.easy)
        guard added == CURLM_OK else {
            transfer.release()
            idleHandles.append(handle)
            let reason = String(cString: tk_curl_multi_strerror(added))
            submission.continuation.resume(throwing: TransportError(kind: .other, detail: reason))
            return
        }
        active[submission.id] = transfer
    }

    private func collectFinished() {
        var remaining: Int32 = 0
        while let message = tk_curl_multi_info_read(multi, &remaining) {
            guard message.pointee.msg == CURLMSG_DONE,
                let transfer = CurlTransfer.owner(of: message.pointee.easy_handle)
            else { continue }
            let result = transfer.result(code: message.pointee.data.result)
            connectionsOpened.add(transfer.connectionsOpened(), ordering: .relaxed)
            finish(transfer.id, with: result)
        }
    }

    private func finish(_ id: UInt64, with result: Result<HTTPResponse, TransportError>) {
        guard let transfer = active.removeValue(forKey: id) else { return }
        tk_curl_multi_remove_handle(multi, transfer.handle.easy)
        transfer.release()
        idleHandles.append(transfer.handle)
        transfer.continuation.resume(with: result.mapError { $0 as any Error })
    }
}
