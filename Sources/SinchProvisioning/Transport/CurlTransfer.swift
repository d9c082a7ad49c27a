import CCurl

/// One request in flight on the loop thread: its handle, the body read so far, and who waits.
final class CurlTransfer {
    let id: UInt64
    let handle: CurlEasyHandle
    let continuation: CheckedContinuation<HTTPResponse, any Error>
    private let maxBodyBytes: Int
    private var body: [UInt8] = []
    private var headers: [String: String] = [:]
    private var bodyTooLarge = false
    private var headerList: UnsafeMutablePointer<curl_slist>?

    init(
        id: UInt64,
        handle: CurlEasyHandle,
        continuation: CheckedContinuation<HTTPResponse, any Error>,
        maxBodyBytes: Int
    ) {
        self.id = id
        self.handle = handle
        self.continuation = continuation
        self.maxBodyBytes = maxBodyBytes
    }

    static func owner(of easy: UnsafeMutableRawPointer?) -> CurlTransfer? {
        var pointer: UnsafeMutableRawPointer?
        guard let easy, tk_curl_easy_getinfo_pointer(easy, CURLINFO_PRIVATE, &pointer) == CURLE_OK, let pointer
        else { return nil }
        return Unmanaged<CurlTransfer>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// Sets every option for `request`; returns the failure when libcurl refuses one.
    func configure(for request: HTTPRequest, configuration: CurlTransportConfiguration) -> TransportError? {
        let easy = handle.easy
        tk_curl_easy_reset(easy)
        handle.errorBuffer[0] = 0
        var code = CURLE_OK
        func set(_ option: CURLoption, _ value: Int) {
            if code == CURLE_OK { code = tk_curl_easy_setopt_long(easy, option, value) }
        }
        func set(_ option: CURLoption, _ value: String) {
            if code == CURLE_OK { code = tk_curl_easy_setopt_string(easy, option, value) }
        }
        func set(_ option: CURLoption, pointer: UnsafeMutableRawPointer?) {
            if code == CURLE_OK { code = tk_curl_easy_setopt_pointer(easy, option, pointer) }
        }
        let context = Unmanaged.passUnretained(self).toOpaque()
        set(CURLOPT_PRIVATE, pointer: context)
        set(CURLOPT_NOSIGNAL, 1)
        set(CURLOPT_URL, request.url)
        set(CURLOPT_PROTOCOLS_STR, "http,https")
        set(CURLOPT_USERAGENT, configuration.userAgent)
        set(CURLOPT_CONNECTTIMEOUT_MS, Int(configuration.connectTimeout.milliseconds))
        set(CURLOPT_TIMEOUT_MS, Int(configuration.timeout.milliseconds))
        set(CURLOPT_TCP_KEEPALIVE, 1)
        set(CURLOPT_SSL_VERIFYPEER, 1)
        set(CURLOPT_SSL_VERIFYHOST, 2)
        if let caBundle = configuration.caBundle { set(CURLOPT_CAINFO, caBundle) }
        set(CURLOPT_ERRORBUFFER, pointer: UnsafeMutableRawPointer(handle.errorBuffer))
        if code == CURLE_OK { code = tk_curl_easy_setopt_data_callback(easy, CURLOPT_WRITEFUNCTION, curlWriteBody) }
        set(CURLOPT_WRITEDATA, pointer: context)
        if code == CURLE_OK { code = tk_curl_easy_setopt_data_callback(easy, CURLOPT_HEADERFUNCTION, curlWriteHeader) }
        set(CURLOPT_HEADERDATA, pointer: context)

        switch request.method {
        case .get:
            set(CURLOPT_HTTPGET, 1)
        case .post, .put:
            set(CURLOPT_POST, 1)
            set(CURLOPT_POSTFIELDSIZE, request.body.count)
            if code == CURLE_OK {
                // COPYPOSTFIELDS copies POSTFIELDSIZE bytes now: the array need not outlive this call.
                let body = request.body.isEmpty ? [0] : request.body
                code = body.withUnsafeBytes { tk_curl_easy_setopt_bytes(easy, CURLOPT_COPYPOSTFIELDS, $0.baseAddress) }
            }
            if request.method == .put { set(CURLOPT_CUSTOMREQUEST, "PUT") }
        }

        // An empty `Expect:` stops libcurl from waiting for `100 Continue`.
        var list: UnsafeMutablePointer<curl_slist>? = tk_curl_slist_append(nil, "Expect:")
        for header in request.headers {
            list = tk_curl_slist_append(list, "\(header.name): \(header.value)")
        }
        headerList = list
        if code == CURLE_OK { code = tk_curl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, list) }

        guard code == CURLE_OK else { return TransportError(kind: .other, detail: Self.describe(code)) }
        return nil
    }

    /// The outcome once libcurl reports the transfer done with `code`.
    func result(code: CURLcode) -> Result<HTTPResponse, TransportError> {
        guard code == CURLE_OK else {
            let buffer = String(cString: handle.errorBuffer)
            var detail = Self.describe(code)
            if !buffer.isEmpty { detail += " (\(buffer))" }
            return .failure(
                TransportError(kind: bodyTooLarge ? .responseTooLarge : Self.kind(of: code), detail: detail)
            )
        }
        var status = 0
        _ = tk_curl_easy_getinfo_long(handle.easy, CURLINFO_RESPONSE_CODE, &status)
        return .success(HTTPResponse(status: status, headers: headers, body: body))
    }

    func connectionsOpened() -> Int {
        var count = 0
        _ = tk_curl_easy_getinfo_long(handle.easy, CURLINFO_NUM_CONNECTS, &count)
        return count
    }

    /// Frees what the handle pointed to; the handle itself goes back to the idle list.
    func release() {
        tk_curl_slist_free_all(headerList)
        headerList = nil
    }

    deinit {
        release()
    }

    fileprivate func append(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard body.count + bytes.count <= maxBodyBytes else {
            bodyTooLarge = true
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    /// One header line, read as bytes: it runs for every line of every answer, and as `String`
    /// work (validate, search, lowercase, trim) it was 3 % of `run-once`'s CPU. The name is
    /// lowercased as ASCII (header names are ASCII tokens); the value loses the spaces, tabs and
    /// line end around it. A line that is not UTF-8 is dropped, as before.
    fileprivate func header(_ bytes: UnsafeRawBufferPointer) {
        if bytes.starts(with: "HTTP/".utf8) {
            // A new response (after `100 Continue` or an informational answer): start over.
            headers.removeAll()
            return
        }
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return }
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }
        var start = colon + 1
        var end = bytes.endIndex
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        let name = bytes[..<colon].map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }
        guard let name = String(validating: name, as: UTF8.self),
            let value = String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        else { return }
        headers[name] = value
    }

    private static func describe(_ code: CURLcode) -> String {
        String(cString: tk_curl_easy_strerror(code))
    }

    private static func kind(of code: CURLcode) -> TransportError.Kind {
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            return .timeout
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT, CURLE_GOT_NOTHING,
            CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_PARTIAL_FILE, CURLE_HTTP2, CURLE_HTTP2_STREAM,
            CURLE_WEIRD_SERVER_REPLY:
            return .connection
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CONNECT_ERROR, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM,
            CURLE_SSL_CIPHER, CURLE_SSL_ENGINE_NOTFOUND:
            return .tls
        case CURLE_FILESIZE_EXCEEDED:
            return .responseTooLarge
        default:
            return .other
        }
    }
}

private let curlWriteBody: tk_curl_data_callback = { data, size, count, context in
    guard let context else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    // Returning less than `length` makes libcurl abort the transfer with CURLE_WRITE_ERROR.
    return transfer.append(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
}

private let curlWriteHeader: tk_curl_data_callback = { data, size, count, context in
    guard let context else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    transfer.header(UnsafeRawBufferPointer(start: data, count: length))
    return length
}
