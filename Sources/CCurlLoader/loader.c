// The one table of libcurl functions behind CCurl's wrappers, filled by dlopen on first use.
#include "CCurlLoader.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

struct tk_curl_api tk_curl_table;
static pthread_once_t tk_curl_once = PTHREAD_ONCE_INIT;

static void tk_curl_load(void) {
    void *library = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        snprintf(tk_curl_table.error, sizeof tk_curl_table.error, "%s", dlerror());
        return;
    }
#define TK_CURL_RESOLVE(field, symbol)                                                             \
    do {                                                                                           \
        *(void **)(&tk_curl_table.field) = dlsym(library, symbol);                                 \
        if (tk_curl_table.field == NULL) {                                                         \
            snprintf(tk_curl_table.error, sizeof tk_curl_table.error, "libcurl.so.4 lacks %s", symbol); \
            return;                                                                                \
        }                                                                                          \
    } while (0)
    TK_CURL_RESOLVE(global_init, "curl_global_init");
    TK_CURL_RESOLVE(easy_init, "curl_easy_init");
    TK_CURL_RESOLVE(easy_cleanup, "curl_easy_cleanup");
    TK_CURL_RESOLVE(easy_reset, "curl_easy_reset");
    TK_CURL_RESOLVE(easy_strerror, "curl_easy_strerror");
    TK_CURL_RESOLVE(multi_init, "curl_multi_init");
    TK_CURL_RESOLVE(multi_cleanup, "curl_multi_cleanup");
    TK_CURL_RESOLVE(multi_add_handle, "curl_multi_add_handle");
    TK_CURL_RESOLVE(multi_remove_handle, "curl_multi_remove_handle");
    TK_CURL_RESOLVE(multi_perform, "curl_multi_perform");
    TK_CURL_RESOLVE(multi_poll, "curl_multi_poll");
    TK_CURL_RESOLVE(multi_wakeup, "curl_multi_wakeup");
    TK_CURL_RESOLVE(multi_info_read, "curl_multi_info_read");
    TK_CURL_RESOLVE(multi_strerror, "curl_multi_strerror");
    TK_CURL_RESOLVE(slist_append, "curl_slist_append");
    TK_CURL_RESOLVE(slist_free_all, "curl_slist_free_all");
    TK_CURL_RESOLVE(easy_setopt, "curl_easy_setopt");
    TK_CURL_RESOLVE(easy_getinfo, "curl_easy_getinfo");
    TK_CURL_RESOLVE(multi_setopt, "curl_multi_setopt");
#undef TK_CURL_RESOLVE
    tk_curl_table.loaded = 1;
}

int tk_curl_load_once(void) {
    pthread_once(&tk_curl_once, tk_curl_load);
    return tk_curl_table.loaded;
}
