// Serial lines set raw at a standard speed (serial_line.c): added to the addon's exports.
#ifndef SERIAL_LINE_H
#define SERIAL_LINE_H
#include <node_api.h>
napi_status serial_line_register(napi_env env, napi_value exports);
#endif
