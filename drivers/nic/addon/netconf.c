// Interface configuration without spawning iproute2 or ethtool (each spawn costs ~0.1 s on a
// slow board, and a start made ~40 of them): links up and down through SIOCGIFFLAGS and
// SIOCSIFFLAGS, offloads through the legacy ethtool ioctls, and addresses, routes and veth
// pairs through rtnetlink (RFC 3549), one request and its acknowledgement at a time.
// drivers/nic/netconf.ts is the TypeScript side and documents each function.

#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <linux/veth.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netconf.h"

static napi_value fail(napi_env env, const char *what, const char *name, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s %s: %s", what, name, strerror(err));
  napi_throw_error(env, err == ENODEV ? "ENODEV" : "ERR_NETCONF", msg);
  return NULL;
}

#define NAPI(call)                                                     \
  do {                                                                 \
    if ((call) != napi_ok) {                                           \
      napi_throw_error(env, "ERR_NETCONF_NAPI", "N-API call failed: " #call); \
      return NULL;                                                     \
    }                                                                  \
  } while (0)

/** Reads argument i as a string into buf (an interface name, or a dotted quad). */
static bool arg_string(napi_env env, napi_value v, char *buf, size_t size) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok || len == 0 || len >= size - 1) {
    napi_throw_type_error(env, "ERR_NETCONF_ARG", "expected a non-empty string");
    return false;
  }
  return true;
}

static int ifreq_ioctl(const char *name, unsigned long req, struct ifreq *ifr) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  memcpy(ifr->ifr_name, name, strnlen(name, IFNAMSIZ - 1));
  int r = ioctl(fd, req, ifr) < 0 ? -errno : 0;
  close(fd);
  return r;
}

// --- links: flags -----------------------------------------------------------------------------

// linkFlags(name) -> { ifindex, up }; throws ENODEV when there is no such interface.
static napi_value link_flags(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out, v;
  char name[IFNAMSIZ + 1];
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !arg_string(env, argv[0], name, sizeof name)) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  int r = ifreq_ioctl(name, SIOCGIFFLAGS, &ifr);
  if (r < 0) return fail(env, "SIOCGIFFLAGS", name, -r);
  bool up = (ifr.ifr_flags & IFF_UP) != 0;
  unsigned index = if_nametoindex(name);
  NAPI(napi_create_object(env, &out));
  NAPI(napi_create_uint32(env, index, &v));
  NAPI(napi_set_named_property(env, out, "ifindex", v));
  NAPI(napi_get_boolean(env, up, &v));
  NAPI(napi_set_named_property(env, out, "up", v));
  return out;
}

// setLinkUp(name, up)
static napi_value set_link_up(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char name[IFNAMSIZ + 1];
  bool up = false;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !arg_string(env, argv[0], name, sizeof name)) return NULL;
  NAPI(napi_get_value_bool(env, argv[1], &up));
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  int r = ifreq_ioctl(name, SIOCGIFFLAGS, &ifr);
  if (r < 0) return fail(env, "SIOCGIFFLAGS", name, -r);
  ifr.ifr_flags = up ? (ifr.ifr_flags | IFF_UP) : (ifr.ifr_flags & ~IFF_UP);
  r = ifreq_ioctl(name, SIOCSIFFLAGS, &ifr);
  if (r < 0) return fail(env, "SIOCSIFFLAGS", name, -r);
  return NULL;
}

// --- offloads: the legacy ethtool get/set pairs, which every driver still answers ----------------

static const struct { const char *name; uint32_t get, set; } OFFLOADS[] = {
  {"rx", ETHTOOL_GRXCSUM, ETHTOOL_SRXCSUM}, {"tx", ETHTOOL_GTXCSUM, ETHTOOL_STXCSUM},
  {"sg", ETHTOOL_GSG, ETHTOOL_SSG}, {"tso", ETHTOOL_GTSO, ETHTOOL_STSO},
  {"gso", ETHTOOL_GGSO, ETHTOOL_SGSO}, {"gro", ETHTOOL_GGRO, ETHTOOL_SGRO},
};

static int ethtool_value(const char *name, uint32_t cmd, uint32_t *data) {
  struct ethtool_value ev = {.cmd = cmd, .data = *data};
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_data = (void *)&ev;
  int r = ifreq_ioctl(name, SIOCETHTOOL, &ifr);
  *data = ev.data;
  return r;
}

// offloads(name) -> { rx, tx, sg, tso, gso, gro }: true/false, absent when the driver does not say.
static napi_value offloads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out, v;
  char name[IFNAMSIZ + 1];
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !arg_string(env, argv[0], name, sizeof name)) return NULL;
  NAPI(napi_create_object(env, &out));
  for (size_t i = 0; i < sizeof OFFLOADS / sizeof OFFLOADS[0]; i++) {
    uint32_t data = 0;
    if (ethtool_value(name, OFFLOADS[i].get, &data) < 0) continue;
    NAPI(napi_get_boolean(env, data != 0, &v));
    NAPI(napi_set_named_property(env, out, OFFLOADS[i].name, v));
  }
  return out;
}

// setOffload(name, feature, on) -> true, or false when the driver refused (a fixed feature).
static napi_value set_offload(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], out;
  char name[IFNAMSIZ + 1], feature[16];
  bool on = false;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3 || !arg_string(env, argv[0], name, sizeof name) || !arg_string(env, argv[1], feature, sizeof feature)) return NULL;
  NAPI(napi_get_value_bool(env, argv[2], &on));
  for (size_t i = 0; i < sizeof OFFLOADS / sizeof OFFLOADS[0]; i++) {
    if (strcmp(feature, OFFLOADS[i].name) != 0) continue;
    uint32_t data = on ? 1 : 0;
    int r = ethtool_value(name, OFFLOADS[i].set, &data);
    if (r == -ENODEV) return fail(env, "SIOCETHTOOL", name, ENODEV);
    NAPI(napi_get_boolean(env, r == 0, &out));
    return out;
  }
  napi_throw_type_error(env, "ERR_NETCONF_ARG", "unknown offload (rx, tx, sg, tso, gso, gro)");
  return NULL;
}

// --- rtnetlink ------------------------------------------------------------------------------------

typedef struct {
  struct nlmsghdr nh;
  char body[1024];
} nl_request;

static void *nl_tail(nl_request *req) {
  return (char *)&req->nh + NLMSG_ALIGN(req->nh.nlmsg_len);
}

static struct rtattr *nl_attr(nl_request *req, unsigned short type, const void *data, size_t len) {
  struct rtattr *a = nl_tail(req);
  a->rta_type = type;
  a->rta_len = RTA_LENGTH(len);
  if (len > 0) memcpy(RTA_DATA(a), data, len);
  req->nh.nlmsg_len = NLMSG_ALIGN(req->nh.nlmsg_len) + RTA_ALIGN(a->rta_len);
  return a;
}

/** Opens a nested attribute; nl_nest_end closes it at the request's current end. */
static struct rtattr *nl_nest(nl_request *req, unsigned short type) {
  return nl_attr(req, type, NULL, 0);
}

static void nl_nest_end(nl_request *req, struct rtattr *nest) {
  nest->rta_len = (unsigned short)((char *)nl_tail(req) - (char *)nest);
}

/** Sends one request and waits for its acknowledgement: 0, or -errno from the kernel. */
static int nl_talk(nl_request *req) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  req->nh.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  req->nh.nlmsg_seq = 1;
  int r = 0;
  if (sendto(fd, req, req->nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
    r = -errno;
  } else {
    char buf[4096];
    for (;;) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        r = -errno;
        break;
      }
      struct nlmsghdr *h = (struct nlmsghdr *)buf;
      if (!NLMSG_OK(h, (size_t)n) || h->nlmsg_type != NLMSG_ERROR) continue;
      r = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
      break;
    }
  }
  close(fd);
  return r;
}

static bool arg_ipv4(napi_env env, napi_value v, struct in_addr *out) {
  char buf[32];
  if (!arg_string(env, v, buf, sizeof buf)) return false;
  if (inet_pton(AF_INET, buf, out) != 1) {
    napi_throw_type_error(env, "ERR_NETCONF_ARG", "expected an IPv4 address");
    return false;
  }
  return true;
}

static bool arg_uint(napi_env env, napi_value v, uint32_t *out) {
  if (napi_get_value_uint32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, "ERR_NETCONF_ARG", "expected a number");
    return false;
  }
  return true;
}

// address(add, name, address, prefixLength): add (true) or delete (false) an IPv4 address.
static napi_value address(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  char name[IFNAMSIZ + 1];
  bool add = false;
  struct in_addr a;
  uint32_t len = 0;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) return fail(env, "address", "", EINVAL);
  NAPI(napi_get_value_bool(env, argv[0], &add));
  if (!arg_string(env, argv[1], name, sizeof name) || !arg_ipv4(env, argv[2], &a) || !arg_uint(env, argv[3], &len)) return NULL;
  unsigned index = if_nametoindex(name);
  if (index == 0) return fail(env, add ? "RTM_NEWADDR" : "RTM_DELADDR", name, ENODEV);
  nl_request req;
  memset(&req, 0, sizeof req);
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
  req.nh.nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR;
  req.nh.nlmsg_flags = add ? NLM_F_CREATE | NLM_F_EXCL : 0;
  struct ifaddrmsg *ifa = NLMSG_DATA(&req.nh);
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = (unsigned char)len;
  ifa->ifa_index = index;
  nl_attr(&req, IFA_LOCAL, &a, 4);
  nl_attr(&req, IFA_ADDRESS, &a, 4);
  if (add && len < 31) {
    struct in_addr brd = {.s_addr = a.s_addr | htonl(len == 0 ? 0xffffffffu : (1u << (32 - len)) - 1)};
    nl_attr(&req, IFA_BROADCAST, &brd, 4);
  }
  int r = nl_talk(&req);
  if (r < 0) return fail(env, add ? "RTM_NEWADDR" : "RTM_DELADDR", name, -r);
  return NULL;
}

// route(replace, destination, prefixLength, gateway | "", dev | "", metric): replace (true) or delete (false) an IPv4 route in the main table.
static napi_value route(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  bool replace = false;
  struct in_addr dst, via;
  uint32_t len = 0, metric = 0;
  char gw[32] = "", dev[IFNAMSIZ + 1] = "";
  size_t n = 0;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) return fail(env, "route", "", EINVAL);
  NAPI(napi_get_value_bool(env, argv[0], &replace));
  if (!arg_ipv4(env, argv[1], &dst) || !arg_uint(env, argv[2], &len)) return NULL;
  NAPI(napi_get_value_string_utf8(env, argv[3], gw, sizeof gw, &n));
  NAPI(napi_get_value_string_utf8(env, argv[4], dev, sizeof dev, &n));
  if (!arg_uint(env, argv[5], &metric)) return NULL;
  nl_request req;
  memset(&req, 0, sizeof req);
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
  req.nh.nlmsg_type = replace ? RTM_NEWROUTE : RTM_DELROUTE;
  req.nh.nlmsg_flags = replace ? NLM_F_CREATE | NLM_F_REPLACE : 0;
  struct rtmsg *rt = NLMSG_DATA(&req.nh);
  rt->rtm_family = AF_INET;
  rt->rtm_dst_len = (unsigned char)len;
  rt->rtm_table = RT_TABLE_MAIN;
  rt->rtm_protocol = RTPROT_BOOT;
  rt->rtm_scope = gw[0] != '\0' ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  rt->rtm_type = RTN_UNICAST;
  nl_attr(&req, RTA_DST, &dst, 4);
  if (gw[0] != '\0') {
    if (inet_pton(AF_INET, gw, &via) != 1) return fail(env, "route via", gw, EINVAL);
    nl_attr(&req, RTA_GATEWAY, &via, 4);
  }
  if (dev[0] != '\0') {
    uint32_t index = if_nametoindex(dev);
    if (index == 0) return fail(env, "route dev", dev, ENODEV);
    nl_attr(&req, RTA_OIF, &index, 4);
  }
  if (metric != 0) nl_attr(&req, RTA_PRIORITY, &metric, 4);
  int r = nl_talk(&req);
  if (r < 0) return fail(env, replace ? "RTM_NEWROUTE" : "RTM_DELROUTE", dev[0] != '\0' ? dev : gw, -r);
  return NULL;
}

// addVeth(name, peer): a veth pair.
static napi_value add_veth(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char name[IFNAMSIZ + 1], peer[IFNAMSIZ + 1];
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !arg_string(env, argv[0], name, sizeof name) || !arg_string(env, argv[1], peer, sizeof peer)) return NULL;
  nl_request req;
  memset(&req, 0, sizeof req);
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
  req.nh.nlmsg_type = RTM_NEWLINK;
  req.nh.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
  ((struct ifinfomsg *)NLMSG_DATA(&req.nh))->ifi_family = AF_UNSPEC;
  nl_attr(&req, IFLA_IFNAME, name, strlen(name) + 1);
  struct rtattr *linkinfo = nl_nest(&req, IFLA_LINKINFO);
  nl_attr(&req, IFLA_INFO_KIND, "veth", 5);
  struct rtattr *data = nl_nest(&req, IFLA_INFO_DATA);
  struct rtattr *peerinfo = nl_nest(&req, VETH_INFO_PEER);
  // The peer is described by its own ifinfomsg, then its attributes.
  struct ifinfomsg *pi = nl_tail(&req);
  memset(pi, 0, sizeof *pi);
  pi->ifi_family = AF_UNSPEC;
  req.nh.nlmsg_len += sizeof *pi;
  nl_attr(&req, IFLA_IFNAME, peer, strlen(peer) + 1);
  nl_nest_end(&req, peerinfo);
  nl_nest_end(&req, data);
  nl_nest_end(&req, linkinfo);
  int r = nl_talk(&req);
  if (r < 0) return fail(env, "RTM_NEWLINK veth", name, -r);
  return NULL;
}

// deleteLink(name)
static napi_value delete_link(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char name[IFNAMSIZ + 1];
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !arg_string(env, argv[0], name, sizeof name)) return NULL;
  unsigned index = if_nametoindex(name);
  if (index == 0) return fail(env, "RTM_DELLINK", name, ENODEV);
  nl_request req;
  memset(&req, 0, sizeof req);
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
  req.nh.nlmsg_type = RTM_DELLINK;
  struct ifinfomsg *ifi = NLMSG_DATA(&req.nh);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = (int)index;
  int r = nl_talk(&req);
  if (r < 0) return fail(env, "RTM_DELLINK", name, -r);
  return NULL;
}

// bindToDevice(fd, name): SO_BINDTODEVICE on a socket Node made (a dgram socket's fd), so it
// hears only that interface: the DHCP server must not answer a broadcast from the WAN.
static napi_value bind_to_device(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1;
  char name[IFNAMSIZ + 1];
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || !arg_string(env, argv[1], name, sizeof name)) return NULL;
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, (socklen_t)strlen(name)) < 0) return fail(env, "SO_BINDTODEVICE", name, errno);
  return NULL;
}

napi_status netconf_register(napi_env env, napi_value exports) {
  napi_value obj;
  napi_status s = napi_create_object(env, &obj);
  if (s != napi_ok) return s;
  napi_property_descriptor props[] = {
    {"linkFlags", NULL, link_flags, NULL, NULL, NULL, napi_default, NULL},
    {"setLinkUp", NULL, set_link_up, NULL, NULL, NULL, napi_default, NULL},
    {"offloads", NULL, offloads, NULL, NULL, NULL, napi_default, NULL},
    {"setOffload", NULL, set_offload, NULL, NULL, NULL, napi_default, NULL},
    {"address", NULL, address, NULL, NULL, NULL, napi_default, NULL},
    {"route", NULL, route, NULL, NULL, NULL, napi_default, NULL},
    {"addVeth", NULL, add_veth, NULL, NULL, NULL, napi_default, NULL},
    {"deleteLink", NULL, delete_link, NULL, NULL, NULL, napi_default, NULL},
    {"bindToDevice", NULL, bind_to_device, NULL, NULL, NULL, napi_default, NULL},
  };
  s = napi_define_properties(env, obj, sizeof props / sizeof props[0], props);
  if (s != napi_ok) return s;
  return napi_set_named_property(env, exports, "netconf", obj);
}
