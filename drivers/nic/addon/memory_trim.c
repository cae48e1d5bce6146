// trimMalloc(): hands the pages glibc holds free back to the kernel (malloc_trim(3), which
// since glibc 2.8 also releases free pages inside every arena, not only at the top). V8's
// compilers and collector free their scratch memory to malloc, which keeps it: 8 MB after a
// burst of 100 k new flows. The trim runs on libuv's thread pool, as releasing many pages
// takes milliseconds the forwarding thread should not wait; firmware/heap.ts asks every few
// seconds.

#include <malloc.h>
#include <node_api.h>
#include <stdbool.h>
#include "memory_trim.h"

static napi_async_work work;
static bool busy; // one trim at a time; a request while one runs is dropped

static void trim(napi_env env, void *data) { malloc_trim(0); }

static void trimmed(napi_env env, napi_status status, void *data) {
  napi_delete_async_work(env, work);
  busy = false;
}

// Returns true when a trim was started, false when one was still running.
static napi_value trim_malloc(napi_env env, napi_callback_info info) {
  napi_value name, result;
  bool start = !busy && napi_create_string_utf8(env, "trimMalloc", NAPI_AUTO_LENGTH, &name) == napi_ok &&
               napi_create_async_work(env, NULL, name, trim, trimmed, NULL, &work) == napi_ok;
  if (start && napi_queue_async_work(env, work) != napi_ok) {
    napi_delete_async_work(env, work);
    start = false;
  }
  busy = busy || start;
  if (napi_get_boolean(env, start, &result) != napi_ok) return NULL;
  return result;
}

napi_status memory_trim_register(napi_env env, napi_value exports) {
  napi_value fn;
  napi_status s = napi_create_function(env, "trimMalloc", NAPI_AUTO_LENGTH, trim_malloc, NULL, &fn);
  if (s != napi_ok) return s;
  return napi_set_named_property(env, exports, "trimMalloc", fn);
}
