// AF_PACKET link for the gateway: one packet socket bound to one interface, receiving through a
// memory-mapped ring and sending with sendmmsg. JavaScript sees the ring as one ArrayBuffer and
// gets (start, end) pairs per batch: no system call or allocation per frame.
// See the kernel's Documentation/networking/packet_mmap.rst.
//
// Two ring layouts: TPACKET_V3 (variable-size frames packed in blocks; the kernel wakes the reader
// only when a block is full or its retire timer, at least 1 ms, fires) and TPACKET_V2 (fixed
// slots with a status word each; the reader is woken per frame). V3 packs memory better under
// load; V2 adds no wait when traffic is light, which is what round-trip times feel.

#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "memory_trim.h"
#include "serial_line.h"
#include "netconf.h"
#include "sparse_flows.h"

#define TX_BATCH 256
// The transmit ring: slots of TX_SLOT bytes (a frame of up to TX_SLOT - TX_DATA bytes), in
// blocks of TX_BLOCK; open's txSlots of them (512 by default: 1 MiB). A slot is free again when
// the kernel lets go of its frame: after the NIC sent it, or on a veth once the receiving
// socket's owner has read it, so a receiver that falls behind holds slots.
#define TX_SLOT 2048
#define TX_BLOCK (1 << 16)
#define TX_SLOTS_DEFAULT 512
// Where a slot's frame starts: after the V2 header (the kernel reads the frame at tp_hdrlen minus
// the sockaddr_ll it would hold on receive) and the virtio-net header that precedes it.
#define TX_VNET ((unsigned)sizeof(struct virtio_net_hdr))
#define TX_DATA (TPACKET_ALIGN(sizeof(struct tpacket2_hdr)) + TX_VNET)
// The receive ring. The kernel puts a frame's network header at TPACKET_ALIGN(hdrlen + 16) of
// its slot (V2) or packet (V3), and truncates what passes the slot's end (V2) or the block's
// minus the block descriptor (V3; net/packet/af_packet.c, tpacket_rcv); a truncated frame is
// dropped and counted. A V2 slot holds a frame of the interface's MTU, and at least one of 1500
// bytes (Ethernet's own, whatever a smaller MTU says): 1584 bytes, not a round 2 KiB, so the
// same 8 MiB holds 5248 frames instead of 4096 (the kernel dropped half as many frames on a
// full ring under TCP with 4 streams; README, benchmarks). RX_VLAN leaves room for a VLAN tag
// the NIC left in the frame.
#define RX_VLAN 4u
#define RX_V2_NET TPACKET_ALIGN(TPACKET2_HDRLEN + 16)
#define RX_SLOT_MIN TPACKET_ALIGN(RX_V2_NET + RX_VLAN + 1500u)
#define RX_V3_NET (TPACKET_ALIGN(sizeof(struct tpacket_block_desc)) + TPACKET_ALIGN(TPACKET3_HDRLEN + 16))

typedef struct nic {
  int fd;
  int ifindex;
  char name[IFNAMSIZ];
  uint8_t *ring;
  size_t ring_size;
  unsigned block_size;
  unsigned block_count;
  int version;          // TPACKET_V2 or TPACKET_V3
  unsigned frame_size;  // V2: slot size; block_size / frame_size slots per block
  unsigned frame_count; // V2: slots in the ring
  unsigned cur_frame;   // V2: the slot receive() reads next
  uint16_t *marks;      // V2, per slot: the frame's flow bucket once classified, SLOT_TAKEN once handed out ahead
  unsigned classified;  // V2: slots from cur_frame + held on that are classified (sparse_flows.c)
  sparse_flows_t sparse;
  uint64_t went_ahead;  // frames handed out ahead of ring order (sparse flows)
  uint64_t interactive; // of which interactive (sparse_flows.h): they take turns from the other rings
  uint64_t ahead_waited_ns; // and how long they had waited in the ring, summed
  unsigned interactive_batch;     // V2: the most frames a batch while interactive traffic flows; 0: no limit
  uint64_t interactive_until_ns;  // an interactive frame went ahead less than INTERACTIVE_NS before this
  unsigned cur_block;   // V3: the block receive() reads next
  unsigned held;        // fully read blocks before cur_block, not yet given back to the kernel
  uint8_t *pkt;         // next frame of cur_block when a batch stopped inside it, else NULL
  unsigned pkt_left;
  uint64_t truncated;   // frames larger than the ring's snap length (GRO on the interface)
  uint64_t vlan_tagged; // 802.1Q/802.1ad frames with a VLAN id: no VLAN is configured, so never ours
  uint64_t tx_dropped;  // frames the socket refused (ENOBUFS, EAGAIN)
  uint64_t tx_sent;     // frames the socket took
  uint64_t csum_completed; // frames whose transport checksum the kernel left for hardware (filled here)
  int tx_fd;            // the transmit socket and its ring (-1 / NULL: sendmmsg on fd instead)
  uint8_t *tx_ring;
  unsigned tx_cur;      // the slot send() fills next
  unsigned tx_head;     // the oldest slot the kernel may not have taken yet
  unsigned tx_slots;
  uint64_t rx_packets;  // PACKET_STATISTICS resets the kernel's counters on every read: their sums
  uint64_t rx_drops;
  // Where a wake-up's time goes (README, "Where the time goes"), in ns, summed since open:
  uint64_t wakeups;     // callbacks into JavaScript
  uint64_t busy_polled; // of which found by busy polling rather than by libuv's poll
  uint64_t coalesced;   // of which found after a moderation sleep (coalesce)
  uint64_t yielded;     // callbacks cut short for another ring's waiting frames
  uint64_t waited_ns;   // kernel's receive timestamp of a wake-up's first frame -> the callback
  uint64_t cross_ns;    // the callback -> JavaScript's first receive()
  uint64_t rx_ns;       // inside receive() and release()
  uint64_t cb_ns;       // whole callbacks
  uint64_t cb_send_ns;  // sends to any link during this link's callbacks
  uint64_t sends;       // send() calls on this link, and their time (sendmmsg and the frame list)
  uint64_t tx_ns;
  uint64_t cb_start;    // monotonic ns when the running callback began; 0 outside one
  uint64_t cb_tx_ns;    // now_tx_ns() when it began: sends to any link during it are not the core's
  int cb_received;      // receive() already ran in this callback
  unsigned cb_frames;   // frames receive() handed out in this callback
  struct nic *next_watched; // the busy-poll list: every watched nic
  uv_poll_t poll;
  int polling;
  int watched;
  int poll_closed;
  int finalized;
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  struct mmsghdr msgs[TX_BATCH];
  struct iovec iov[TX_BATCH];
} nic_t;

static void finalize_nic(napi_env env, void *data, void *hint);
static void open_tx(nic_t *nic);

// Time spent in send() on every link: a callback's own share of it is subtracted from the core's.
static uint64_t all_tx_ns;

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// How long a frame stamped by the kernel at (sec, nsec) (CLOCK_REALTIME) has waited in the ring.
static uint64_t waited_since(uint32_t sec, uint32_t nsec) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t d = ((int64_t)ts.tv_sec - sec) * 1000000000 + ((int64_t)ts.tv_nsec - nsec);
  return d > 0 ? (uint64_t)d : 0;
}

static napi_value throw_errno(napi_env env, const char *what, const char *ifname) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s on %s: %s", what, ifname, strerror(errno));
  napi_throw_error(env, "ERR_PACKET_SOCKET", msg);
  return NULL;
}

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, "ERR_PACKET_NAPI", "N-API call failed: " #call); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static nic_t *unwrap(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "expected a packet socket handle");
    return NULL;
  }
  nic_t *nic = p;
  if (nic->fd < 0) {
    napi_throw_error(env, "ERR_PACKET_CLOSED", "packet socket is closed");
    return NULL;
  }
  return nic;
}

static bool is_type(napi_env env, napi_typedarray_type got, napi_typedarray_type want, const char *what) {
  if (got == want) return true;
  napi_throw_type_error(env, NULL, what);
  return false;
}

// The handle-taking calls: fills argv (argc of them; missing ones are undefined) and returns the
// open nic of argv[0], or NULL with a JavaScript exception pending.
static nic_t *nic_args(napi_env env, napi_callback_info info, size_t argc, napi_value *argv) {
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    napi_throw_error(env, "ERR_PACKET_NAPI", "N-API call failed: napi_get_cb_info");
    return NULL;
  }
  return unwrap(env, argv[0]);
}

// The elements of an Int32Array argument and their count, or NULL with a TypeError pending.
static int32_t *int32_elements(napi_env env, napi_value v, const char *what, size_t *count) {
  napi_typedarray_type ta;
  void *p;
  if (napi_get_typedarray_info(env, v, &ta, count, &p, NULL, NULL) != napi_ok || ta != napi_int32_array) {
    napi_throw_type_error(env, NULL, what);
    return NULL;
  }
  return p;
}

static napi_status set_number(napi_env env, napi_value obj, const char *key, double value) {
  napi_value v;
  napi_status st = napi_create_double(env, value, &v);
  return st != napi_ok ? st : napi_set_named_property(env, obj, key, v);
}

static uint32_t get_u32(napi_env env, napi_value obj, const char *key, uint32_t fallback) {
  napi_value v;
  bool has = false;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok || !has) return fallback;
  napi_get_named_property(env, obj, key, &v);
  uint32_t out = fallback;
  napi_get_value_uint32(env, v, &out);
  return out;
}

static int if_ioctl(int fd, const char *name, unsigned long req, struct ifreq *ifr) {
  memset(ifr, 0, sizeof *ifr);
  memcpy(ifr->ifr_name, name, strnlen(name, IFNAMSIZ - 1));
  return ioctl(fd, req, ifr);
}

// open(ifname, { blockSize, blockCount, retireMs, version, txSlots }) -> { handle, ring, mac, mtu, ringMtu, ifindex }. version 2 or 3;
// 3 when omitted here, but PacketLink always passes one (its default, and [driver] packet_ring's, is 2).
static napi_value nic_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ] = {0};
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok || len == 0) {
    napi_throw_type_error(env, NULL, "interface name must be a non-empty string");
    return NULL;
  }
  unsigned block_size = 1 << 16, block_count = 64, retire_ms = 1, version = 3, tx_slots = TX_SLOTS_DEFAULT, interactive_batch = 0;
  napi_valuetype t;
  if (argc > 1 && napi_typeof(env, argv[1], &t) == napi_ok && t == napi_object) {
    block_size = get_u32(env, argv[1], "blockSize", block_size);
    block_count = get_u32(env, argv[1], "blockCount", block_count);
    retire_ms = get_u32(env, argv[1], "retireMs", retire_ms);
    version = get_u32(env, argv[1], "version", version);
    tx_slots = get_u32(env, argv[1], "txSlots", tx_slots);
    interactive_batch = get_u32(env, argv[1], "interactiveBatch", interactive_batch);
  }
  if (tx_slots == 0 || tx_slots % (TX_BLOCK / TX_SLOT) != 0 || tx_slots > 65536) {
    napi_throw_range_error(env, NULL, "txSlots must be a multiple of 32, at most 65536");
    return NULL;
  }
  if (version != 2 && version != 3) {
    napi_throw_range_error(env, NULL, "version must be 2 or 3 (TPACKET_V2 or TPACKET_V3)");
    return NULL;
  }
  long page = sysconf(_SC_PAGESIZE);
  if (block_size < (unsigned)page || (block_size & (block_size - 1)) != 0 || block_count == 0) {
    napi_throw_range_error(env, NULL, "blockSize must be a power of two of at least a page; blockCount > 0");
    return NULL;
  }

  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd < 0) return throw_errno(env, "socket(AF_PACKET)", name);
  struct ifreq ifr;
  if (if_ioctl(fd, name, SIOCGIFINDEX, &ifr) < 0) { close(fd); return throw_errno(env, "SIOCGIFINDEX", name); }
  int ifindex = ifr.ifr_ifindex;
  uint8_t mac[6] = {0};
  if (if_ioctl(fd, name, SIOCGIFHWADDR, &ifr) == 0) memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
  int mtu = 1500;
  if (if_ioctl(fd, name, SIOCGIFMTU, &ifr) == 0) mtu = ifr.ifr_mtu;
  unsigned frame_size = TPACKET_ALIGN(RX_V2_NET + RX_VLAN + (unsigned)mtu);
  if (frame_size < RX_SLOT_MIN) frame_size = RX_SLOT_MIN;
  // A slot (or, V3, a frame with the block's descriptor) larger than a block: fewer, larger blocks, the same ring size.
  unsigned block_need = version == 3 ? RX_V3_NET + RX_VLAN + (unsigned)mtu : frame_size;
  while (block_size < block_need && block_size < (1u << 30)) {
    block_size <<= 1;
    block_count = block_count > 1 ? block_count / 2 : 1;
  }
  const int tpacket_version = version == 3 ? TPACKET_V3 : TPACKET_V2;
  int v = tpacket_version;
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0) { close(fd); return throw_errno(env, "PACKET_VERSION", name); }
  // Our own transmissions, and the kernel's, are not input.
  v = 1;
  setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &v, sizeof v);
  // The interface has no queue worth waiting in: hand frames straight to the driver.
  setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &v, sizeof v);
  int sndbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

  struct tpacket_req3 req;
  memset(&req, 0, sizeof req);
  req.tp_block_size = block_size;
  req.tp_block_nr = block_count;
  req.tp_frame_size = frame_size;
  req.tp_frame_nr = (block_size / frame_size) * block_count;
  if (version == 3) req.tp_retire_blk_tov = retire_ms;
  // V2 reads the first fields of tpacket_req3 (a tpacket_req): the same ring size either way.
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, version == 3 ? sizeof req : sizeof(struct tpacket_req)) < 0) { close(fd); return throw_errno(env, "PACKET_RX_RING", name); }
  size_t ring_size = (size_t)block_size * block_count;
  uint8_t *ring = mmap(NULL, ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED | MAP_POPULATE, fd, 0);
  if (ring == MAP_FAILED) ring = mmap(NULL, ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (ring == MAP_FAILED) { close(fd); return throw_errno(env, "mmap", name); }

  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = ifindex;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) { munmap(ring, ring_size); close(fd); return throw_errno(env, "bind", name); }
  // The core answers for addresses the kernel does not hold, and LAN hosts send to its MAC:
  // promiscuous mode is only needed for frames to other MACs, which the core drops anyway.


  nic_t *nic = calloc(1, sizeof *nic);
  if (nic == NULL) { munmap(ring, ring_size); close(fd); napi_throw_error(env, NULL, "out of memory"); return NULL; }
  nic->fd = fd;
  nic->ifindex = ifindex;
  memcpy(nic->name, name, IFNAMSIZ);
  nic->ring = ring;
  nic->ring_size = ring_size;
  nic->block_size = block_size;
  nic->block_count = block_count;
  nic->version = tpacket_version;
  nic->frame_size = req.tp_frame_size;
  nic->frame_count = req.tp_frame_nr;
  if (version == 2) nic->marks = calloc(nic->frame_count, sizeof *nic->marks); // NULL: no sparse flows first, ring order only
  nic->env = env;
  nic->tx_slots = tx_slots;
  nic->interactive_batch = interactive_batch;
  open_tx(nic);
  for (unsigned i = 0; i < TX_BATCH; i++) {
    nic->msgs[i].msg_hdr.msg_iov = &nic->iov[i];
    nic->msgs[i].msg_hdr.msg_iovlen = 1;
  }

  napi_value result, handle, ab, macbuf;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_create_external(env, nic, finalize_nic, NULL, &handle));
  CHECK(napi_create_external_arraybuffer(env, ring, ring_size, NULL, NULL, &ab));
  void *macdata;
  CHECK(napi_create_buffer_copy(env, 6, mac, &macdata, &macbuf));
  CHECK(napi_set_named_property(env, result, "handle", handle));
  CHECK(napi_set_named_property(env, result, "ring", ab));
  CHECK(napi_set_named_property(env, result, "mac", macbuf));
  CHECK(set_number(env, result, "mtu", mtu));
  // The largest MTU whose frames the ring holds whole: a link whose MTU grows past it must reopen.
  CHECK(set_number(env, result, "ringMtu", version == 3 ? block_size - RX_V3_NET - RX_VLAN : frame_size - RX_V2_NET - RX_VLAN));
  CHECK(set_number(env, result, "ifindex", ifindex));
  return result;
}

static inline struct tpacket_block_desc *block_at(nic_t *nic, unsigned i) {
  return (struct tpacket_block_desc *)(nic->ring + (size_t)i * nic->block_size);
}

// V2: the frame slot `slot` (slots never straddle blocks, so a block holds block_size / frame_size).
static inline uint8_t *slot_at(nic_t *nic, unsigned slot) {
  unsigned per_block = nic->block_size / nic->frame_size;
  return nic->ring + (size_t)(slot / per_block) * nic->block_size + (size_t)(slot % per_block) * nic->frame_size;
}

// V2: the slot `pos` slots on from cur_frame (ring order), and its frame when the kernel has
// handed it to us (else NULL; also past a full ring); *slot is set to the slot either way.
static inline unsigned ring_pos(nic_t *nic, unsigned pos) {
  return (nic->cur_frame + pos) % nic->frame_count;
}
static inline struct tpacket2_hdr *v2_ready(nic_t *nic, unsigned pos, unsigned *slot) {
  if (pos >= nic->frame_count) return NULL;
  *slot = ring_pos(nic, pos);
  struct tpacket2_hdr *h = (struct tpacket2_hdr *)slot_at(nic, *slot);
  return (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0 ? h : NULL;
}

// V2: the next slot receive() would read, when the kernel has handed it to us; else NULL.
static inline uint8_t *v2_next(nic_t *nic) {
  unsigned slot;
  return (uint8_t *)v2_ready(nic, nic->held, &slot);
}

// V3: the block receive() reads next, when the kernel has handed it to us; else NULL.
static inline struct tpacket_block_desc *v3_next(nic_t *nic) {
  struct tpacket_block_desc *b = block_at(nic, nic->cur_block);
  return (__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0 ? b : NULL;
}

// A frame whose TCP or UDP checksum is not filled in yet (TP_STATUS_CSUMNOTREADY: it came from
// this machine's stack, or from a virtio NIC or veth whose peer offloads checksums): the field
// holds only the pseudo-header's part. Forwarded as it is, the next host would drop it, so the
// checksum is completed here, in the ring (RFC 1071 over pseudo-header and segment).
static void complete_checksum(nic_t *nic, uint8_t *f, uint32_t len) {
  if (len < 14 + 20 || f[12] != 0x08 || f[13] != 0x00) return;
  uint8_t *ip = f + 14;
  unsigned ihl = (ip[0] & 0x0f) * 4u;
  unsigned total = ((unsigned)ip[2] << 8) | ip[3];
  if ((ip[0] >> 4) != 4 || ihl < 20 || total < ihl || 14 + total > len) return;
  if (((((unsigned)ip[6] << 8) | ip[7]) & 0x3fff) != 0) return; // a fragment: never partial
  unsigned proto = ip[9];
  unsigned at = proto == 6 ? 16 : proto == 17 ? 6 : 0;
  unsigned l4len = total - ihl;
  if (at == 0 || l4len < at + 2) return;
  uint8_t *l4 = ip + ihl;
  uint32_t sum = 0;
  for (int i = 12; i < 20; i += 2) sum += ((uint32_t)ip[i] << 8) | ip[i + 1];
  sum += proto + l4len;
  l4[at] = 0;
  l4[at + 1] = 0;
  for (unsigned i = 0; i + 1 < l4len; i += 2) sum += ((uint32_t)l4[i] << 8) | l4[i + 1];
  if (l4len & 1) sum += (uint32_t)l4[l4len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  uint16_t c = (uint16_t)~sum;
  if (c == 0 && proto == 17) c = 0xffff; // RFC 768: a computed zero is sent as all ones
  l4[at] = (uint8_t)(c >> 8);
  l4[at + 1] = (uint8_t)c;
  nic->csum_completed++;
}

// The kernel strips a frame's outer VLAN tag before a packet socket sees it and reports it in the
// ring header instead: without this check a tagged frame would look untagged to the core. A
// priority tag alone (VLAN id 0, IEEE 802.1Q §6.9.1) still means the untagged network.
static int is_vlan_tagged(uint32_t status, uint16_t tci) {
  return (status & TP_STATUS_VLAN_VALID) != 0 && (tci & 0x0fff) != 0;
}

// Turns between rings (README, "Turns between rings"). Under load one callback drains up to 64
// batches of its ring, milliseconds during which the other rings wait; among their frames are
// the answers of the very flows being forwarded, and a ping or a game's packet behind a
// download's backlog waits as long again. Three rules, none of them shrinking a bulk flow's
// batches:
// - sparse flows first (sparse_flows.c): in a V2 ring, a frame of a flow with nothing else
//   waiting goes ahead of the ring's backlog, as a batch of its own;
// - a callback ends after its current batch when another ring has such a frame that is
//   interactive: not TCP, of a flow sending under 200 frames a second (sparse_flows.h);
// - a ring that had its turn goes to the back of the list (run_callback), so busy polling and
//   moderation serve the rings in turn.
// Interactive traffic (`[driver] interactive_batch`, off by default): for INTERACTIVE_NS after an
// interactive frame went ahead in a ring, its batches are capped, so that the next
// such frame waits for a shorter batch (with its send) before it is seen: a policy that trades
// bulk throughput for the latency of games and calls (README, "Levers weighed").
#define INTERACTIVE_NS 50000000u
#define SLOT_TAKEN 0x8000u // marks[slot]: handed out ahead of ring order, skipped when ring order reaches it

static nic_t *watched;

// V2: gives the frames that arrived since the last call their flow bucket, queueing the sparse ones.
static void classify_arrivals(nic_t *nic) {
  struct tpacket2_hdr *h;
  unsigned slot;
  while ((h = v2_ready(nic, nic->held + nic->classified, &slot)) != NULL) {
    nic->classified++;
    unsigned bucket = 0;
    int tcp = 0;
    if (h->tp_snaplen == h->tp_len && !is_vlan_tagged(h->tp_status, h->tp_vlan_tci)) bucket = flow_bucket((uint8_t *)h + h->tp_mac, h->tp_snaplen, &tcp);
    nic->marks[slot] = (uint16_t)bucket;
    sparse_arrived(&nic->sparse, bucket, tcp, slot, (uint64_t)h->tp_sec * 1000000000u + h->tp_nsec);
  }
}

// V2: passes over the slots at the head of ring order that were handed out ahead; release()
// gives them back with the rest.
static void pass_taken(nic_t *nic) {
  while (nic->classified > 0 && nic->held < nic->frame_count) {
    unsigned slot = ring_pos(nic, nic->held);
    if ((nic->marks[slot] & SLOT_TAKEN) == 0) return;
    nic->marks[slot] = 0;
    nic->held++;
    nic->classified--;
  }
}

// Another watched ring has an interactive frame waiting: its turn. (A TCP flow that paused over
// SPARSE_GAP_NS is sparse too, and goes ahead in its ring; but turns for them, mostly the ACKs of
// a bulk sender that had been waiting for them, cost TCP with 4 streams 16-37% of its
// throughput in the forwarding benchmark's lab, as did a bound on how long any frame may wait
// in another ring; turns for a paced UDP stream's frames cost it 23-33%.)
static int another_waiting(nic_t *nic) {
  for (nic_t *n = watched; n != NULL; n = n->next_watched) {
    if (n == nic || n->marks == NULL || n->fd < 0 || !n->polling) continue;
    classify_arrivals(n);
    if (n->sparse.interactive > 0) return 1;
  }
  return 0;
}

// V2: the frame in slot `h` as the batch's next (start, end) pair.
static void hand_out(nic_t *nic, struct tpacket2_hdr *h, int first, int32_t *starts, int32_t *ends, size_t *n) {
  int32_t start = (int32_t)((uint8_t *)h - nic->ring) + h->tp_mac;
  if (h->tp_status & TP_STATUS_CSUMNOTREADY) complete_checksum(nic, nic->ring + start, h->tp_snaplen);
  if (first && *n == 0) nic->waited_ns += waited_since(h->tp_sec, h->tp_nsec);
  starts[*n] = start;
  ends[*n] = start + (int32_t)h->tp_snaplen;
  (*n)++;
}

// receive(handle, starts: Int32Array, ends: Int32Array) -> count n; frame i is ring[starts[i], ends[i]).
// Frames stay valid until release(). V2: sparse flows' frames as a batch of their own, else slots
// in ring order; V3: blocks in ring order. 0 also when another ring's turn has come (above).
static napi_value nic_receive(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  nic_t *nic = nic_args(env, info, 3, argv);
  if (nic == NULL) return NULL;
  size_t cap_o, cap_l;
  int32_t *starts = int32_elements(env, argv[1], "starts must be an Int32Array", &cap_o);
  if (starts == NULL) return NULL;
  int32_t *ends = int32_elements(env, argv[2], "ends must be an Int32Array", &cap_l);
  if (ends == NULL) return NULL;
  size_t cap = cap_o < cap_l ? cap_o : cap_l;
  size_t n = 0;
  uint64_t t0 = mono_ns();
  int first = nic->cb_start != 0 && !nic->cb_received;
  if (nic->cb_frames > 0 && another_waiting(nic)) {
    nic->yielded++;
    napi_value none;
    CHECK(napi_create_uint32(env, 0, &none));
    return none;
  }
  if (first) {
    nic->cb_received = 1;
    nic->cross_ns += t0 - nic->cb_start;
  }
  if (nic->version == TPACKET_V2) {
    // Sparse flows' frames first, from anywhere in the ring; they stay held (in the kernel's
    // eyes) until ring order reaches them, and are skipped then.
    if (nic->marks != NULL) {
      classify_arrivals(nic);
      while (n < cap && nic->sparse.len > 0) {
        int interactive;
        uint32_t slot = sparse_take(&nic->sparse, &interactive);
        if (interactive) {
          nic->interactive++;
          nic->interactive_until_ns = t0 + INTERACTIVE_NS;
        }
        sparse_left(&nic->sparse, nic->marks[slot]);
        nic->marks[slot] |= SLOT_TAKEN;
        struct tpacket2_hdr *h = (struct tpacket2_hdr *)slot_at(nic, slot);
        nic->went_ahead++;
        nic->ahead_waited_ns += waited_since(h->tp_sec, h->tp_nsec);
        hand_out(nic, h, first, starts, ends, &n);
      }
    }
    // Sparse frames make a batch of their own, forwarded and sent before the backlog's next
    // batch is handled: that batch (256 frames of TCP) takes 0.5-0.8 ms with its send, and the
    // answers' leg of a ping under load fell from 0.9-1.1 ms to 0.1-0.15 ms. Slots handed out
    // ahead that ring order has now reached are passed over at once, so that the ring does
    // not look ready (to busy polling, or to the next callback) for frames already handled.
    if (n > 0) {
      pass_taken(nic);
      cap = n;
    } else if (nic->interactive_batch > 0 && t0 < nic->interactive_until_ns && cap > nic->interactive_batch) {
      cap = nic->interactive_batch;
    }
    // Then slots in order; a slot is ours while its status has TP_STATUS_USER.
    struct tpacket2_hdr *h;
    unsigned slot;
    while (n < cap && (h = v2_ready(nic, nic->held, &slot)) != NULL) {
      nic->held++;
      if (nic->marks != NULL && nic->classified > 0) {
        nic->classified--;
        unsigned mark = nic->marks[slot];
        nic->marks[slot] = 0;
        if (mark & SLOT_TAKEN) continue;
        sparse_left(&nic->sparse, mark);
      }
      if (h->tp_snaplen < h->tp_len) {
        nic->truncated++;
        continue;
      }
      if (is_vlan_tagged(h->tp_status, h->tp_vlan_tci)) {
        nic->vlan_tagged++;
        continue;
      }
      hand_out(nic, h, first, starts, ends, &n);
    }
    nic->rx_ns += mono_ns() - t0;
    nic->cb_frames += (unsigned)n;
    napi_value out;
    CHECK(napi_create_uint32(env, (uint32_t)n, &out));
    return out;
  }
  struct tpacket_block_desc *b;
  while (n < cap && (b = v3_next(nic)) != NULL) {
    if (nic->pkt == NULL) {
      nic->pkt = (uint8_t *)b + b->hdr.bh1.offset_to_first_pkt;
      nic->pkt_left = b->hdr.bh1.num_pkts;
    }
    while (nic->pkt_left > 0 && n < cap) {
      struct tpacket3_hdr *h = (struct tpacket3_hdr *)nic->pkt;
      if (h->tp_snaplen < h->tp_len) {
        nic->truncated++;
      } else if (is_vlan_tagged(h->tp_status, h->hv1.tp_vlan_tci)) {
        nic->vlan_tagged++;
      } else {
        int32_t start = (int32_t)(nic->pkt - nic->ring) + h->tp_mac;
        if (h->tp_status & TP_STATUS_CSUMNOTREADY) complete_checksum(nic, nic->ring + start, h->tp_snaplen);
        if (first && n == 0) nic->waited_ns += waited_since(h->tp_sec, h->tp_nsec);
        starts[n] = start;
        ends[n] = start + (int32_t)h->tp_snaplen;
        n++;
      }
      nic->pkt += h->tp_next_offset;
      nic->pkt_left--;
    }
    if (nic->pkt_left > 0) break;
    nic->pkt = NULL;
    nic->held++;
    nic->cur_block = (nic->cur_block + 1) % nic->block_count;
    if (nic->held == nic->block_count) break;
  }
  nic->rx_ns += mono_ns() - t0;
  nic->cb_frames += (unsigned)n;
  napi_value out;
  CHECK(napi_create_uint32(env, (uint32_t)n, &out));
  return out;
}

// release(handle): gives the fully read blocks back to the kernel.
static napi_value nic_release(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  nic_t *nic = nic_args(env, info, 1, argv);
  if (nic == NULL) return NULL;
  uint64_t t0 = mono_ns();
  if (nic->version == TPACKET_V2) {
    for (; nic->held > 0; nic->held--) {
      __atomic_store_n(&((struct tpacket2_hdr *)slot_at(nic, nic->cur_frame))->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
      nic->cur_frame = (nic->cur_frame + 1) % nic->frame_count;
    }
    nic->rx_ns += mono_ns() - t0;
    return NULL;
  }
  unsigned i = (nic->cur_block + nic->block_count - nic->held) % nic->block_count;
  for (; nic->held > 0; nic->held--, i = (i + 1) % nic->block_count) {
    __atomic_store_n(&block_at(nic, i)->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  }
  nic->rx_ns += mono_ns() - t0;
  return NULL;
}

// The transmit side: a second packet socket on the interface, bound to no protocol (so it
// receives nothing), with a PACKET_TX_RING. send() copies frames into the ring and one send(2)
// hands them all to the driver. Unlike sendmmsg, which offers the scheduler a switch after
// every message (on a veth its receiver's wake-up runs in that very call), the kernel sends a
// whole ring in one sweep. Each slot starts with a virtio-net header whose hdr_len is the whole
// frame: the kernel then copies the frame instead of pointing into the ring's pages, so a slot
// can be reused as soon as the kernel has taken it, however long the receiver keeps the data.
// Without a ring (an old kernel, no memory), send() falls back to sendmmsg on the receive socket.
static void open_tx(nic_t *nic) {
  nic->tx_fd = -1;
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  int v = TPACKET_V2;
  struct tpacket_req req = { .tp_block_size = TX_BLOCK, .tp_block_nr = nic->tx_slots / (TX_BLOCK / TX_SLOT), .tp_frame_size = TX_SLOT, .tp_frame_nr = nic->tx_slots };
  int one = 1, sndbuf = 4 << 20;
  struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = 0, .sll_ifindex = nic->ifindex };
  uint8_t *ring = MAP_FAILED;
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) == 0 &&
      setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) == 0 &&
      // A frame the kernel refuses is skipped rather than stopping the ring.
      setsockopt(fd, SOL_PACKET, PACKET_LOSS, &one, sizeof one) == 0 &&
      setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) == 0 &&
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) == 0 &&
      setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof req) == 0) {
    ring = mmap(NULL, (size_t)nic->tx_slots * TX_SLOT, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  }
  if (ring == MAP_FAILED || bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    if (ring != MAP_FAILED) munmap(ring, (size_t)nic->tx_slots * TX_SLOT);
    close(fd);
    return;
  }
  nic->tx_fd = fd;
  nic->tx_ring = ring;
}

static inline struct tpacket2_hdr *tx_slot(nic_t *nic, unsigned i) {
  return (struct tpacket2_hdr *)(nic->tx_ring + (size_t)i * TX_SLOT);
}

static inline unsigned tx_status(nic_t *nic, unsigned i) {
  return __atomic_load_n(&tx_slot(nic, i)->tp_status, __ATOMIC_ACQUIRE);
}

// A slot the kernel has given back: it may add timestamp bits (TP_STATUS_TS_*) to AVAILABLE.
static inline bool tx_free(nic_t *nic, unsigned i) {
  return (tx_status(nic, i) & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING | TP_STATUS_WRONG_FORMAT)) == 0;
}

// Hands the filled slots to the kernel. It takes them in ring order and leaves a slot it could
// not send (the device down or full) as TP_STATUS_SEND_REQUEST, so what it took is the run of
// slots from tx_head that no longer are. Slots still waiting after a few tries are dropped, as
// a full NIC queue would drop them, and tx_cur steps back to the kernel's own position.
static void tx_flush(nic_t *nic) {
  for (int attempt = 0; attempt < 3 && nic->tx_head != nic->tx_cur; attempt++) {
    ssize_t r = send(nic->tx_fd, NULL, 0, MSG_DONTWAIT);
    while (nic->tx_head != nic->tx_cur && tx_status(nic, nic->tx_head) != TP_STATUS_SEND_REQUEST) {
      nic->tx_head = (nic->tx_head + 1) % nic->tx_slots;
      nic->tx_sent++;
    }
    if (r < 0 && errno != EINTR && errno != EAGAIN && errno != ENOBUFS) break;
  }
  for (unsigned i = nic->tx_head; i != nic->tx_cur; i = (i + 1) % nic->tx_slots) {
    __atomic_store_n(&tx_slot(nic, i)->tp_status, TP_STATUS_AVAILABLE, __ATOMIC_RELEASE);
    nic->tx_dropped++;
  }
  nic->tx_cur = nic->tx_head; // the kernel's next slot: the next frame is written there
}

// Copies one frame into the next slot; false when it does not fit a slot or the ring is full
// even after a flush (then the caller sends it another way or drops it).
static bool tx_fill(nic_t *nic, const uint8_t *frame, size_t len) {
  if (len > TX_SLOT - TX_DATA) return false;
  if (!tx_free(nic, nic->tx_cur)) {
    tx_flush(nic);
    if (!tx_free(nic, nic->tx_cur)) return false;
  }
  struct tpacket2_hdr *h = tx_slot(nic, nic->tx_cur);
  uint8_t *slot = (uint8_t *)h;
  struct virtio_net_hdr vnet = { .flags = 0, .gso_type = VIRTIO_NET_HDR_GSO_NONE, .hdr_len = (uint16_t)len };
  memcpy(slot + TX_DATA - TX_VNET, &vnet, TX_VNET); // little-endian fields, as on every board we run on
  memcpy(slot + TX_DATA, frame, len);
  h->tp_len = (uint32_t)(TX_VNET + len);
  __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
  nic->tx_cur = (nic->tx_cur + 1) % nic->tx_slots;
  return true;
}

// Sends msgs[first .. first + n) with sendmmsg on the receive socket; a frame refused (the
// device queue full, or the frame) is dropped, as a full NIC queue would drop it.
static void send_direct(nic_t *nic, unsigned first, unsigned n) {
  unsigned done = 0;
  while (done < n) {
    int r = sendmmsg(nic->fd, nic->msgs + first + done, n - done, MSG_DONTWAIT);
    if (r > 0) { done += (unsigned)r; nic->tx_sent += (unsigned)r; continue; }
    if (r < 0 && errno == EINTR) continue;
    nic->tx_dropped++;
    done++;
  }
}

// send(handle, frames: Uint8Array[], starts: Int32Array, ends: Int32Array, count) -> frames sent
static napi_value nic_send(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  nic_t *nic = nic_args(env, info, 5, argv);
  if (nic == NULL) return NULL;
  size_t ns, ne;
  const int32_t *starts = int32_elements(env, argv[2], "starts must be an Int32Array", &ns);
  if (starts == NULL) return NULL;
  const int32_t *ends = int32_elements(env, argv[3], "ends must be an Int32Array", &ne);
  if (ends == NULL) return NULL;
  napi_typedarray_type ta;
  uint32_t count = 0;
  CHECK(napi_get_value_uint32(env, argv[4], &count));
  if (count > ns || count > ne) {
    napi_throw_range_error(env, NULL, "count exceeds the starts/ends arrays");
    return NULL;
  }
  uint64_t t0 = mono_ns();
  for (uint32_t base = 0; base < count; base += TX_BATCH) {
    unsigned m = count - base < TX_BATCH ? count - base : TX_BATCH;
    for (unsigned i = 0; i < m; i++) {
      napi_value f;
      void *data;
      size_t flen;
      CHECK(napi_get_element(env, argv[1], base + i, &f));
      CHECK(napi_get_typedarray_info(env, f, &ta, &flen, &data, NULL, NULL));
      if (!is_type(env, ta, napi_uint8_array, "frames must be Uint8Arrays")) return NULL;
      int32_t s = starts[base + i], e = ends[base + i];
      if (s < 0 || e < s || (size_t)e > flen) {
        napi_throw_range_error(env, NULL, "frame bounds outside its buffer");
        return NULL;
      }
      nic->iov[i].iov_base = (uint8_t *)data + s;
      nic->iov[i].iov_len = (size_t)(e - s);
    }
    if (nic->tx_ring == NULL) {
      send_direct(nic, 0, m);
      continue;
    }
    // Through the ring, in order. A frame it cannot take (larger than a slot, or the ring
    // still full after a flush) goes by sendmmsg, once the frames before it have left: sent
    // at the end of the batch instead, it overtook them.
    for (unsigned i = 0; i < m; i++) {
      if (tx_fill(nic, nic->iov[i].iov_base, nic->iov[i].iov_len)) continue;
      tx_flush(nic);
      send_direct(nic, i, 1);
    }
    tx_flush(nic);
  }
  uint64_t dt = mono_ns() - t0;
  nic->sends++;
  nic->tx_ns += dt;
  all_tx_ns += dt;
  napi_value out;
  CHECK(napi_create_uint32(env, count, &out));
  return out;
}

// Moderation (coalesce): the ring's interrupt moderation, as a NIC's rx-usecs. While traffic
// is dense (DENSE_FRAMES_PER_MS or more over the last millisecond, all rings together), the
// loop sleeps coalesce_ns between turns instead of busy polling, then handles every ring that
// has frames. Frames then come and leave in batches of tens instead of a few: fewer crossings
// into JavaScript, fewer sends, and the receivers our sends wake (a server on the same CPU) are
// woken once per batch. A frame waits at most about coalesce_ns more, and only under load:
// sparse traffic (pings, a game's packets) is handled at once and busy polled as before.
// In the forwarding benchmark, 100 µs took 64-byte UDP from 0.76-1.19 to 0.99-1.38 times the
// kernel's over three rounds, and new connections up by 0.07-0.21 (README, "Moderation").
#define DENSE_FRAMES_PER_MS 32
static uint64_t coalesce_ns;
static uint64_t window_start_ns, window_frames;
static int dense;

// Counts a callback's frames into the current millisecond's window; a full window decides dense.
static void note_frames(unsigned n) {
  uint64_t now = mono_ns();
  window_frames += n;
  if (now - window_start_ns >= 1000000) {
    dense = window_frames * 1000000 >= (uint64_t)DENSE_FRAMES_PER_MS * (now - window_start_ns);
    window_start_ns = now;
    window_frames = 0;
  }
}

// Calls the nic's JavaScript callback (which reads, forwards and releases its ring).
static void run_callback(nic_t *nic) {
  napi_env env = nic->env;
  napi_handle_scope scope;
  nic->cb_start = mono_ns();
  nic->cb_tx_ns = all_tx_ns;
  nic->cb_received = 0;
  nic->cb_frames = 0;
  nic->wakeups++;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, result;
  if (napi_get_reference_value(env, nic->callback, &cb) == napi_ok && cb != NULL) {
    napi_get_global(env, &recv);
    // make_callback runs microtasks and reports exceptions as uncaught, like any I/O callback.
    napi_make_callback(env, nic->async, recv, cb, 0, NULL, &result);
  }
  napi_close_handle_scope(env, scope);
  nic->cb_ns += mono_ns() - nic->cb_start;
  nic->cb_send_ns += all_tx_ns - nic->cb_tx_ns;
  nic->cb_start = 0;
  note_frames(nic->cb_frames);
  if (nic->polling && nic->next_watched != NULL) { // to the back of the list: the others go first
    nic_t **p = &watched;
    while (*p != nic) p = &(*p)->next_watched;
    *p = nic->next_watched;
    while (*p != NULL) p = &(*p)->next_watched;
    *p = nic;
    nic->next_watched = NULL;
  }
}

// Busy polling (busyPoll): once a wake-up has brought frames, every watched ring is looked at
// again and again for busy_poll_ns before going back to sleep in libuv, and frames found are
// handled at once. Traffic through a gateway comes in pairs (a request on one link, its answer
// on the other, often already waiting when our send returns): each wake-up saved is a
// scheduler round trip (tens of µs) off the round trip. Nothing runs while no frame arrives,
// so an idle gateway stays idle; BUSY_POLL_MAX_NS bounds one turn so timers get theirs.
static uint64_t busy_poll_ns;
static int busy_polling;
#define BUSY_POLL_MAX_NS 2000000
#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() do {} while (0)
#endif

// A frame is waiting in the nic's ring (the slot or block receive() would read next).
static int ring_ready(nic_t *nic) {
  if (nic->fd < 0 || !nic->polling) return 0;
  return nic->version == TPACKET_V2 ? v2_next(nic) != NULL : v3_next(nic) != NULL;
}

// The first watched ring with a frame waiting. The list may change inside a callback (a link
// closed): callers walk it afresh after each one.
static nic_t *first_ready(void) {
  for (nic_t *n = watched; n != NULL; n = n->next_watched) {
    if (ring_ready(n)) return n;
  }
  return NULL;
}

// Traffic is dense and moderation is on: sleep between turns rather than busy poll.
static int moderating(void) {
  return dense && coalesce_ns > 0;
}

static void busy_poll(void) {
  if (busy_poll_ns == 0 || busy_polling) return;
  busy_polling = 1;
  uint64_t start = mono_ns(), now = start, until = start + busy_poll_ns;
  while (now < until && now - start < BUSY_POLL_MAX_NS && !moderating()) {
    nic_t *ready = first_ready();
    if (ready != NULL) {
      ready->busy_polled++;
      run_callback(ready);
    }
    now = mono_ns();
    if (ready != NULL) until = now + busy_poll_ns;
    else cpu_relax();
  }
  busy_polling = 0;
}

// Sleep, then drain every ready ring; again while frames keep coming densely, for at most
// BUSY_POLL_MAX_NS so libuv's timers and other handles get their turn.
static void moderate(void) {
  if (busy_polling) return;
  busy_polling = 1;
  uint64_t start = mono_ns();
  int found;
  do {
    struct timespec pause = { 0, (long)coalesce_ns };
    nanosleep(&pause, NULL);
    found = 0;
    nic_t *ready;
    do {
      ready = first_ready();
      if (ready != NULL) {
        found = 1;
        ready->coalesced++;
        run_callback(ready);
      }
    } while (ready != NULL && mono_ns() - start < BUSY_POLL_MAX_NS);
  } while (found && dense && mono_ns() - start < BUSY_POLL_MAX_NS);
  busy_polling = 0;
}

static void on_readable(uv_poll_t *poll, int status, int events) {
  (void)events;
  nic_t *nic = poll->data;
  if (status < 0 && nic->polling) {
    // The socket reported an error (ENETDOWN: the interface was taken down), and libuv stops
    // watching on POLLERR. Reading SO_ERROR clears it; the ring works again once the
    // interface is back up, so the watch goes on. (An interface that is gone is noticed by
    // the link's state poll, which the callback runs when it finds no frame.)
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(nic->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    uv_poll_start(&nic->poll, UV_READABLE, on_readable);
  }
  run_callback(nic);
  if (nic->cb_frames == 0) return; // a wake-up for an error or nothing ends here
  if (!moderating()) busy_poll();
  if (moderating()) moderate(); // traffic was or became dense
}

// The one argument of a process-wide setting in microseconds, 0 to max, as ns in *ns; 0 (a
// RangeError naming `what` pending) when it is not one.
static int microseconds_arg(napi_env env, napi_callback_info info, uint32_t max, const char *what, uint64_t *ns) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t us = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_uint32(env, argv[0], &us) != napi_ok || us > max) {
    char msg[80];
    snprintf(msg, sizeof msg, "%s takes microseconds, 0 to %u", what, max);
    napi_throw_range_error(env, NULL, msg);
    return 0;
  }
  *ns = (uint64_t)us * 1000;
  return 1;
}

// busyPoll(microseconds): how long to keep looking at the rings after frames (0: off).
static napi_value nic_busy_poll(napi_env env, napi_callback_info info) {
  microseconds_arg(env, info, 100000, "busyPoll", &busy_poll_ns);
  return NULL;
}

// coalesce(microseconds): how long to sleep between turns while traffic is dense (0: off).
// The loop's thread gets a timer slack of 1 µs (the default 50 µs would add half as much again).
static napi_value nic_coalesce(napi_env env, napi_callback_info info) {
  if (microseconds_arg(env, info, 10000, "coalesce", &coalesce_ns) && coalesce_ns > 0) prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  return NULL;
}

// watch(handle, callback): calls back whenever a block is ready (libuv poll on the socket).
static napi_value nic_watch(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  nic_t *nic = nic_args(env, info, 2, argv);
  if (nic == NULL) return NULL;
  if (nic->polling) {
    napi_throw_error(env, NULL, "already watched");
    return NULL;
  }
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  CHECK(napi_create_reference(env, argv[1], 1, &nic->callback));
  napi_value name;
  CHECK(napi_create_string_utf8(env, "PacketRing", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &nic->async));
  if (uv_poll_init(loop, &nic->poll, nic->fd) != 0) { errno = EINVAL; return throw_errno(env, "uv_poll_init", nic->name); }
  nic->poll.data = nic;
  uv_poll_start(&nic->poll, UV_READABLE, on_readable);
  nic->polling = 1;
  nic->next_watched = watched;
  watched = nic;
  nic->watched = 1;
  return NULL;
}

// link(handle) -> { up, running, mtu, ifindex }: the interface named as when opened, which may
// be another one by now (unplugged and plugged back: a new ifindex); throws when it is gone.
static napi_value nic_link(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  nic_t *nic = nic_args(env, info, 1, argv);
  if (nic == NULL) return NULL;
  struct ifreq ifr;
  if (if_ioctl(nic->fd, nic->name, SIOCGIFINDEX, &ifr) < 0) return throw_errno(env, "SIOCGIFINDEX", nic->name);
  int ifindex = ifr.ifr_ifindex;
  if (if_ioctl(nic->fd, nic->name, SIOCGIFFLAGS, &ifr) < 0) return throw_errno(env, "SIOCGIFFLAGS", nic->name);
  short flags = ifr.ifr_flags;
  int mtu = 0;
  if (if_ioctl(nic->fd, nic->name, SIOCGIFMTU, &ifr) == 0) mtu = ifr.ifr_mtu;
  napi_value out, v;
  CHECK(napi_create_object(env, &out));
  CHECK(napi_get_boolean(env, (flags & IFF_UP) != 0, &v));
  CHECK(napi_set_named_property(env, out, "up", v));
  CHECK(napi_get_boolean(env, (flags & IFF_RUNNING) != 0, &v));
  CHECK(napi_set_named_property(env, out, "running", v));
  CHECK(set_number(env, out, "mtu", mtu));
  CHECK(set_number(env, out, "ifindex", ifindex));
  return out;
}

// stats(handle) -> { received, kernelDrops, truncated, vlanTagged, sent, txDropped, checksumsCompleted }, totals since open. The kernel
// resets its counters on every read, so each read is added to the totals: two readers never
// take each other's counts.
static napi_value nic_stats(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  nic_t *nic = nic_args(env, info, 1, argv);
  if (nic == NULL) return NULL;
  struct tpacket_stats_v3 st;
  socklen_t sl = sizeof st;
  memset(&st, 0, sizeof st);
  getsockopt(nic->fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl);
  napi_value out;
  CHECK(napi_create_object(env, &out));
  nic->rx_packets += st.tp_packets;
  nic->rx_drops += st.tp_drops;
  CHECK(set_number(env, out, "received", (double)nic->rx_packets));
  CHECK(set_number(env, out, "kernelDrops", (double)nic->rx_drops));
  CHECK(set_number(env, out, "truncated", (double)nic->truncated));
  CHECK(set_number(env, out, "vlanTagged", (double)nic->vlan_tagged));
  CHECK(set_number(env, out, "sent", (double)nic->tx_sent));
  CHECK(set_number(env, out, "txDropped", (double)nic->tx_dropped));
  CHECK(set_number(env, out, "checksumsCompleted", (double)nic->csum_completed));
  // The time split: what is left of the callbacks once the crossing, the ring and the sends are
  // taken out is the core and the JavaScript around it.
  CHECK(set_number(env, out, "wakeups", (double)nic->wakeups));
  CHECK(set_number(env, out, "busyPolled", (double)nic->busy_polled));
  CHECK(set_number(env, out, "coalesced", (double)nic->coalesced));
  CHECK(set_number(env, out, "yielded", (double)nic->yielded));
  CHECK(set_number(env, out, "wentAhead", (double)nic->went_ahead));
  CHECK(set_number(env, out, "interactive", (double)nic->interactive));
  CHECK(set_number(env, out, "aheadWaitNs", (double)nic->ahead_waited_ns));
  CHECK(set_number(env, out, "ringWaitNs", (double)nic->waited_ns));
  CHECK(set_number(env, out, "crossingNs", (double)nic->cross_ns));
  CHECK(set_number(env, out, "ringNs", (double)nic->rx_ns));
  CHECK(set_number(env, out, "coreNs", (double)nic->cb_ns - (double)nic->cross_ns - (double)nic->rx_ns - (double)nic->cb_send_ns));
  CHECK(set_number(env, out, "sendCalls", (double)nic->sends));
  CHECK(set_number(env, out, "sendNs", (double)nic->tx_ns));
  return out;
}

// The nic outlives both the JavaScript handle and libuv's close of its poll: freed by whichever ends last.
static void maybe_free(nic_t *nic) {
  if (nic->finalized && (!nic->watched || nic->poll_closed)) free(nic);
}

static void on_poll_closed(uv_handle_t *h) {
  nic_t *nic = h->data;
  nic->poll_closed = 1;
  maybe_free(nic);
}

static void shut(napi_env env, nic_t *nic) {
  if (nic->fd < 0) return;
  if (nic->polling) {
    for (nic_t **p = &watched; *p != NULL; p = &(*p)->next_watched) {
      if (*p == nic) {
        *p = nic->next_watched;
        break;
      }
    }
    uv_poll_stop(&nic->poll);
    uv_close((uv_handle_t *)&nic->poll, on_poll_closed);
    napi_delete_reference(env, nic->callback);
    napi_async_destroy(env, nic->async);
    nic->polling = 0;
  }
  munmap(nic->ring, nic->ring_size);
  nic->ring = NULL;
  free(nic->marks);
  nic->marks = NULL;
  close(nic->fd);
  nic->fd = -1;
  if (nic->tx_fd >= 0) {
    munmap(nic->tx_ring, (size_t)nic->tx_slots * TX_SLOT);
    nic->tx_ring = NULL;
    close(nic->tx_fd);
    nic->tx_fd = -1;
  }
}

static void finalize_nic(napi_env env, void *data, void *hint) {
  (void)hint;
  nic_t *nic = data;
  shut(env, nic);
  nic->finalized = 1;
  maybe_free(nic);
}

// close(handle): stops watching, unmaps the ring and closes the socket.
static napi_value nic_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *p = NULL;
  if (napi_get_value_external(env, argv[0], &p) != napi_ok || p == NULL) return NULL;
  shut(env, p);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"open", NULL, nic_open, NULL, NULL, NULL, napi_default, NULL},
    {"receive", NULL, nic_receive, NULL, NULL, NULL, napi_default, NULL},
    {"release", NULL, nic_release, NULL, NULL, NULL, napi_default, NULL},
    {"send", NULL, nic_send, NULL, NULL, NULL, napi_default, NULL},
    {"watch", NULL, nic_watch, NULL, NULL, NULL, napi_default, NULL},
    {"busyPoll", NULL, nic_busy_poll, NULL, NULL, NULL, napi_default, NULL},
    {"coalesce", NULL, nic_coalesce, NULL, NULL, NULL, napi_default, NULL},
    {"link", NULL, nic_link, NULL, NULL, NULL, napi_default, NULL},
    {"stats", NULL, nic_stats, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, nic_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  netconf_register(env, exports);
  memory_trim_register(env, exports);
  serial_line_register(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
