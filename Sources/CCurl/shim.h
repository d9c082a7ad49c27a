#ifndef TOKENKEEPER_CCURL_SHIM_H
#define TOKENKEEPER_CCURL_SHIM_H

// libcurl, loaded on first use rather than linked.
//
// Debian's libcurl pulls in some thirty libraries (GnuTLS, OpenSSL, Kerberos, LDAP, RTMP, ...)
// whose loading and constructors cost ~4 ms at every process start; most tokenkeeper commands
// (list, check, cron and monitoring calls) never make an HTTP request. So nothing links -lcurl:
// the first tk_curl() call dlopens libcurl.so.4 and resolves the functions below, once.
//
// libcurl's setopt/getinfo/multi_setopt are variadic, which Swift cannot call: each typed
// wrapper fixes one argument type so the compiler checks what we pass for each option.

#include <curl/curl.h>

struct tk_curl_api {
    int loaded;
    char error[256];
    CURLcode (*global_init)(long flags);
    CURL * (*easy_init)(void);
    void (*easy_cleanup)(CURL *handle);
    void (*easy_reset)(CURL *handle);
    const char * (*easy_strerror)(CURLcode code);
    CURLM * (*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *multi);
    CURLMcode (*multi_add_handle)(CURLM *multi, CURL *handle);
    CURLMcode (*multi_remove_handle)(CURLM *multi, CURL *handle);
    CURLMcode (*multi_perform)(CURLM *multi, int *running);
    CURLMcode (*multi_poll)(CURLM *multi, struct curl_waitfd *fds, unsigned int count, int timeout_ms, int *ready);
    CURLMcode (*multi_wakeup)(CURLM *multi);
    CURLMsg * (*multi_info_read)(CURLM *multi, int *remaining);
    const char * (*multi_strerror)(CURLMcode code);
    struct curl_slist * (*slist_append)(struct curl_slist *list, const char *text);
    void (*slist_free_all)(struct curl_slist *list);
    CURLcode (*easy_setopt)(CURL *handle, CURLoption option, ...);
    CURLcode (*easy_getinfo)(CURL *handle, CURLINFO info, ...);
    CURLMcode (*multi_setopt)(CURLM *multi, CURLMoption option, ...);
};

// Defined in the CCurlLoader target (a header cannot own the one table every caller shares).
extern struct tk_curl_api tk_curl_table;
int tk_curl_load_once(void);

// tk_curl_load_once(): loads libcurl once; 1 when every function resolved, else 0 (see tk_curl_load_error).

/// Why loading failed: dlerror()'s text or the missing symbol.
static inline const char *tk_curl_load_error(void) {
    return tk_curl_table.error;
}

// Every wrapper below assumes tk_curl_load_once() returned 1.

static inline CURLcode tk_curl_global_init(long flags) {
    return tk_curl_table.global_init(flags);
}

static inline CURL * tk_curl_easy_init(void) {
    return tk_curl_table.easy_init();
}

static inline void tk_curl_easy_cleanup(CURL *handle) {
    tk_curl_table.easy_cleanup(handle);
}

static inline void tk_curl_easy_reset(CURL *handle) {
    tk_curl_table.easy_reset(handle);
}

static inline const char * tk_curl_easy_strerror(CURLcode code) {
    return tk_curl_table.easy_strerror(code);
}

static inline CURLM * tk_curl_multi_init(void) {
    return tk_curl_table.multi_init();
}

static inline CURLMcode tk_curl_multi_cleanup(CURLM *multi) {
    return tk_curl_table.multi_cleanup(multi);
}

static inline CURLMcode tk_curl_multi_add_handle(CURLM *multi, CURL *handle) {
    return tk_curl_table.multi_add_handle(multi, handle);
}

static inline CURLMcode tk_curl_multi_remove_handle(CURLM *multi, CURL *handle) {
    return tk_curl_table.multi_remove_handle(multi, handle);
}

static inline CURLMcode tk_curl_multi_perform(CURLM *multi, int *running) {
    return tk_curl_table.multi_perform(multi, running);
}

static inline CURLMcode tk_curl_multi_poll(CURLM *multi, struct curl_waitfd *fds, unsigned int count, int timeout_ms, int *ready) {
    return tk_curl_table.multi_poll(multi, fds, count, timeout_ms, ready);
}

static inline CURLMcode tk_curl_multi_wakeup(CURLM *multi) {
    return tk_curl_table.multi_wakeup(multi);
}

static inline CURLMsg * tk_curl_multi_info_read(CURLM *multi, int *remaining) {
    return tk_curl_table.multi_info_read(multi, remaining);
}

static inline const char * tk_curl_multi_strerror(CURLMcode code) {
    return tk_curl_table.multi_strerror(code);
}

static inline struct curl_slist * tk_curl_slist_append(struct curl_slist *list, const char *text) {
    return tk_curl_table.slist_append(list, text);
}

static inline void tk_curl_slist_free_all(struct curl_slist *list) {
    tk_curl_table.slist_free_all(list);
}

typedef size_t (*tk_curl_data_callback)(char *data, size_t size, size_t count, void *context);

static inline CURLcode tk_curl_easy_setopt_long(CURL *handle, CURLoption option, long value) {
    return tk_curl_table.easy_setopt(handle, option, value);
}

static inline CURLcode tk_curl_easy_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return tk_curl_table.easy_setopt(handle, option, value);
}

static inline CURLcode tk_curl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return tk_curl_table.easy_setopt(handle, option, value);
}

static inline CURLcode tk_curl_easy_setopt_bytes(CURL *handle, CURLoption option, const void *value) {
    return tk_curl_table.easy_setopt(handle, option, value);
}

static inline CURLcode tk_curl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return tk_curl_table.easy_setopt(handle, option, value);
}

static inline CURLcode tk_curl_easy_setopt_data_callback(
    CURL *handle, CURLoption option, tk_curl_data_callback value) {
    return tk_curl_table.easy_setopt(handle, option, value);
}

static inline CURLcode tk_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return tk_curl_table.easy_getinfo(handle, info, value);
}

static inline CURLcode tk_curl_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **value) {
    return tk_curl_table.easy_getinfo(handle, info, value);
}

static inline CURLMcode tk_curl_multi_setopt_long(CURLM *handle, CURLMoption option, long value) {
    return tk_curl_table.multi_setopt(handle, option, value);
}

#endif
