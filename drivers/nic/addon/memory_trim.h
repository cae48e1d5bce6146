// The C library's allocator, seen from JavaScript (memory_trim.c): added to the addon's exports.
#ifndef MEMORY_TRIM_H
#define MEMORY_TRIM_H
#include <node_api.h>
napi_status memory_trim_register(napi_env env, napi_value exports);
#endif
