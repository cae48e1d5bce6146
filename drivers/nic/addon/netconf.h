// Interface configuration functions (netconf.c), added to the addon's exports as `netconf`.
#ifndef NETCONF_H
#define NETCONF_H
#include <node_api.h>
napi_status netconf_register(napi_env env, napi_value exports);
#endif
