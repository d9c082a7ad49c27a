import SinchProvisioning
import Synchronization

/// Answers the client's requests with the input's answers in turn, the last one repeating, and
/// keeps what each request sent to look for it in what the client wrote.
final class ScriptedTransport: HTTPTransport {
    /// What one request carried that an answer could echo.
    struct Sent {
        var authorization: String
        var body: String
    }

    private let answers: [HTTPResponse]
    private let requests = Mutex<[Sent]>([])

    init(answers: [HTTPResponse]) {
        self.answers = answers
    }

    /// The requests sent, in order.
    var sent: [Sent] { requests.withLock { $0 } }

    func send(_ request: HTTPRequest) async throws(TransportError) -> HTTPResponse {
        let authorization = request.headers.first { $0.name == "Authorization" }?.value ?? ""
        let index = requests.withLock { sent in
            sent.append(Sent(authorization: authorization, body: String(decoding: request.body, as: UTF8.self)))
            return sent.count - 1
        }
        // A client stuck in a loop is reported by the harness, not left spinning.
        guard index < 8 else { throw TransportError(kind: .other, detail: "more than eight requests") }
        return answers[min(index, answers.count - 1)]
    }
}
