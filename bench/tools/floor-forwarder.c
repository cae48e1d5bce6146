// The forwarding benchmark's floor: the least any user-space forwarder on AF_PACKET does, with
// ours' I/O and nothing else. Receive rings of TPACKET_V2 (8 MiB in slots of 1584 bytes), a
// PACKET_TX_RING of 512 slots per port flushed with one send(2) per pass, 50 µs of busy
// polling after frames, then poll(2); while traffic is dense (32 frames a millisecond or
// more), sleeps of 100 µs between passes instead of busy polling (ours' moderation). Per
// frame: one LAN host's address swapped 1:1 for the WAN address (static NAT, ports kept,
// checksums updated per RFC 1624), the TTL, the MACs; and ARP replies for the gateway's two
// addresses. No flow table, no checks beyond these, no JavaScript. What ours costs beyond it
// is our own code's; what it costs beyond the kernel's forwarding is what a process in user
// space pays on this machine (the wake-ups, a CPU of its own, the copies). Not part of the
// gateway: bench/floor.ts compiles and runs it for bench/forwarding.ts.
//
// usage: floor-forwarder LAN_IF WAN_IF LAN_GW_IP WAN_GW_IP LAN_HOST_IP LAN_HOST_MAC WAN_HOST_MAC

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
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

#define RX_BLOCK (1u << 16)
#define RX_BLOCKS 128u
#define RX_SLOT TPACKET_ALIGN(TPACKET_ALIGN(TPACKET2_HDRLEN + 16) + 4u + 1500u)
#define TX_SLOT 2048u
#define TX_SLOTS 512u
#define TX_VNET ((unsigned)sizeof(struct virtio_net_hdr))
#define TX_DATA (TPACKET_ALIGN(sizeof(struct tpacket2_hdr)) + TX_VNET)
#define BATCH 256u
#define BUSY_POLL_NS 50000u
#define COALESCE_NS 100000L
#define TURN_MAX_NS 2000000u
#define MAX_PASSES 64u
#define DENSE_FRAMES_PER_MS 32u

typedef struct port {
  const char *name;
  int fd, tx_fd, ifindex;
  uint8_t mac[6];
  uint32_t ip;          // the gateway's address on this side (network order)
  uint8_t *rx, *tx;
  unsigned rx_slots, rx_pos, tx_cur, tx_pending;
} port_t;

static port_t lan = { .name = NULL }, wan = { .name = NULL };
static uint32_t lan_host;            // the one LAN host, network order
static uint8_t lan_host_mac[6], wan_host_mac[6];
static unsigned long forwarded, dropped;

static void die(const char *what, const char *name) {
  fprintf(stderr, "floor-forwarder: %s %s: %s\n", what, name, strerror(errno));
  exit(1);
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void open_port(port_t *p) {
  struct ifreq ifr;
  p->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
  if (p->fd < 0) die("socket", p->name);
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, p->name, IFNAMSIZ - 1);
  if (ioctl(p->fd, SIOCGIFINDEX, &ifr) < 0) die("SIOCGIFINDEX", p->name);
  p->ifindex = ifr.ifr_ifindex;
  if (ioctl(p->fd, SIOCGIFHWADDR, &ifr) < 0) die("SIOCGIFHWADDR", p->name);
  memcpy(p->mac, ifr.ifr_hwaddr.sa_data, 6);

  int v = TPACKET_V2, one = 1, sndbuf = 4 << 20;
  struct tpacket_req rx = { .tp_block_size = RX_BLOCK, .tp_block_nr = RX_BLOCKS, .tp_frame_size = RX_SLOT, .tp_frame_nr = (RX_BLOCK / RX_SLOT) * RX_BLOCKS };
  if (setsockopt(p->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0) die("PACKET_VERSION", p->name);
  setsockopt(p->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  if (setsockopt(p->fd, SOL_PACKET, PACKET_RX_RING, &rx, sizeof rx) < 0) die("PACKET_RX_RING", p->name);
  p->rx = mmap(NULL, (size_t)RX_BLOCK * RX_BLOCKS, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, p->fd, 0);
  if (p->rx == MAP_FAILED) die("mmap rx", p->name);
  p->rx_slots = rx.tp_frame_nr;
  struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = p->ifindex };
  if (bind(p->fd, (struct sockaddr *)&sll, sizeof sll) < 0) die("bind", p->name);

  // As ours: a second socket bound to no protocol, its slots copied by the kernel (hdr_len).
  struct tpacket_req tx = { .tp_block_size = 1u << 16, .tp_block_nr = TX_SLOTS / ((1u << 16) / TX_SLOT), .tp_frame_size = TX_SLOT, .tp_frame_nr = TX_SLOTS };
  p->tx_fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, 0);
  if (p->tx_fd < 0) die("socket tx", p->name);
  if (setsockopt(p->tx_fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0 ||
      setsockopt(p->tx_fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0 ||
      setsockopt(p->tx_fd, SOL_PACKET, PACKET_LOSS, &one, sizeof one) < 0 ||
      setsockopt(p->tx_fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0 ||
      setsockopt(p->tx_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) < 0 ||
      setsockopt(p->tx_fd, SOL_PACKET, PACKET_TX_RING, &tx, sizeof tx) < 0) die("tx ring", p->name);
  p->tx = mmap(NULL, (size_t)TX_SLOTS * TX_SLOT, PROT_READ | PROT_WRITE, MAP_SHARED, p->tx_fd, 0);
  if (p->tx == MAP_FAILED) die("mmap tx", p->name);
  struct sockaddr_ll txa = { .sll_family = AF_PACKET, .sll_protocol = 0, .sll_ifindex = p->ifindex };
  if (bind(p->tx_fd, (struct sockaddr *)&txa, sizeof txa) < 0) die("bind tx", p->name);
}

static void tx_flush(port_t *p) {
  if (p->tx_pending == 0) return;
  if (send(p->tx_fd, NULL, 0, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != ENOBUFS) dropped++;
  p->tx_pending = 0;
}

// A slot to write a frame of len bytes into, or NULL (dropped) when the ring stays full.
static uint8_t *tx_slot(port_t *p, unsigned len) {
  struct tpacket2_hdr *h = (struct tpacket2_hdr *)(p->tx + (size_t)p->tx_cur * TX_SLOT);
  const unsigned busy = TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING;
  if (len > TX_SLOT - TX_DATA) return NULL;
  if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & busy) {
    tx_flush(p);
    if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & busy) return NULL;
  }
  struct virtio_net_hdr vnet = { .gso_type = VIRTIO_NET_HDR_GSO_NONE, .hdr_len = (uint16_t)len };
  memcpy((uint8_t *)h + TX_DATA - TX_VNET, &vnet, TX_VNET);
  h->tp_len = TX_VNET + len;
  return (uint8_t *)h + TX_DATA;
}

static void tx_commit(port_t *p) {
  struct tpacket2_hdr *h = (struct tpacket2_hdr *)(p->tx + (size_t)p->tx_cur * TX_SLOT);
  __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
  p->tx_cur = (p->tx_cur + 1) % TX_SLOTS;
  p->tx_pending++;
}

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), over the 16-bit words that changed.
static void csum_update(uint8_t *sum, const uint8_t *from, const uint8_t *to, unsigned words) {
  uint32_t s = (uint16_t)~((sum[0] << 8) | sum[1]);
  for (unsigned i = 0; i < words; i++) {
    s += (uint16_t)~((from[2 * i] << 8) | from[2 * i + 1]);
    s += (uint16_t)((to[2 * i] << 8) | to[2 * i + 1]);
  }
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  s = (uint16_t)~s;
  sum[0] = (uint8_t)(s >> 8);
  sum[1] = (uint8_t)s;
}

static void arp_reply(port_t *p, const uint8_t *f, unsigned len) {
  const uint8_t *a = f + 14;
  if (len < 42 || ntohs(*(const uint16_t *)(a + 6)) != 1 || memcmp(a + 24, &p->ip, 4) != 0) return;
  uint8_t *o = tx_slot(p, 42);
  if (o == NULL) return;
  memcpy(o, f + 6, 6);
  memcpy(o + 6, p->mac, 6);
  memcpy(o + 12, "\x08\x06\x00\x01\x08\x00\x06\x04\x00\x02", 10);
  memcpy(o + 22, p->mac, 6);
  memcpy(o + 28, &p->ip, 4);
  memcpy(o + 32, a + 8, 10); // their MAC and address
  tx_commit(p);
}

// One IPv4 frame from `in`, out through `out` with the address at `at` (12 source, 16
// destination) swapped from `from` to `to`.
static void forward(port_t *in, port_t *out, uint8_t *f, unsigned len, unsigned at, uint32_t from, uint32_t to, const uint8_t *next_mac) {
  uint8_t *ip = f + 14;
  unsigned ihl = (ip[0] & 15u) * 4u;
  if (len < 34 || (ip[0] >> 4) != 4 || ihl < 20 || len < 14 + ihl || memcmp(f, in->mac, 6) != 0 || memcmp(ip + at, &from, 4) != 0 || ip[8] <= 1) {
    dropped++;
    return;
  }
  uint8_t *o = tx_slot(out, len);
  if (o == NULL) {
    dropped++;
    return;
  }
  memcpy(o, f, len);
  ip = o + 14;
  uint8_t ttl[2] = { ip[8], ip[9] }, ttl2[2] = { (uint8_t)(ip[8] - 1), ip[9] };
  ip[8]--;
  csum_update(ip + 10, ttl, ttl2, 1);
  csum_update(ip + 10, (const uint8_t *)&from, (const uint8_t *)&to, 2);
  unsigned frag = ((ip[6] & 0x1fu) << 8) | ip[7];
  uint8_t *l4 = ip + ihl;
  if (frag == 0 && ip[9] == 6 && len >= 14 + ihl + 18) csum_update(l4 + 16, (const uint8_t *)&from, (const uint8_t *)&to, 2);
  if (frag == 0 && ip[9] == 17 && len >= 14 + ihl + 8 && (l4[6] | l4[7]) != 0) {
    csum_update(l4 + 6, (const uint8_t *)&from, (const uint8_t *)&to, 2);
    if ((l4[6] | l4[7]) == 0) l4[6] = l4[7] = 0xff; // RFC 768: a computed 0 is sent as all ones
  }
  memcpy(ip + at, &to, 4);
  memcpy(o, next_mac, 6);
  memcpy(o + 6, out->mac, 6);
  tx_commit(out);
  forwarded++;
}

// Up to BATCH frames of one port's ring; how many there were.
static unsigned drain(port_t *in) {
  unsigned n = 0;
  for (; n < BATCH; n++) {
    // A slot never straddles a block: 41 slots to a block, then the next block.
    const unsigned per_block = RX_BLOCK / RX_SLOT;
    struct tpacket2_hdr *h = (struct tpacket2_hdr *)(in->rx + (size_t)(in->rx_pos / per_block) * RX_BLOCK + (size_t)(in->rx_pos % per_block) * RX_SLOT);
    if ((__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) break;
    uint8_t *f = (uint8_t *)h + h->tp_mac;
    unsigned len = h->tp_snaplen;
    uint16_t type = len >= 14 ? (uint16_t)((f[12] << 8) | f[13]) : 0;
    if (type == ETHERTYPE_ARP) arp_reply(in, f, len);
    else if (type == ETHERTYPE_IP && in == &lan) forward(&lan, &wan, f, len, 12, lan_host, wan.ip, wan_host_mac);
    else if (type == ETHERTYPE_IP) forward(&wan, &lan, f, len, 16, wan.ip, lan_host, lan_host_mac);
    __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    in->rx_pos = (in->rx_pos + 1) % in->rx_slots;
  }
  return n;
}

static uint64_t window_start, window_frames;
static int dense;

static unsigned pass(void) {
  unsigned n = drain(&lan) + drain(&wan);
  tx_flush(&lan);
  tx_flush(&wan);
  uint64_t now = now_ns();
  window_frames += n;
  if (now - window_start >= 1000000u) {
    dense = window_frames * 1000000u >= DENSE_FRAMES_PER_MS * (now - window_start);
    window_start = now;
    window_frames = 0;
  }
  return n;
}

static volatile sig_atomic_t stopping;
static void on_term(int sig) { (void)sig; stopping = 1; }

static void parse_mac(const char *s, uint8_t mac[6]) {
  unsigned m[6];
  if (sscanf(s, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6) {
    fprintf(stderr, "floor-forwarder: not a MAC address: %s\n", s);
    exit(2);
  }
  for (int i = 0; i < 6; i++) mac[i] = (uint8_t)m[i];
}

static uint32_t parse_ip(const char *s) {
  struct in_addr a;
  if (inet_pton(AF_INET, s, &a) != 1) {
    fprintf(stderr, "floor-forwarder: not an IPv4 address: %s\n", s);
    exit(2);
  }
  return a.s_addr;
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: floor-forwarder LAN_IF WAN_IF LAN_GW_IP WAN_GW_IP LAN_HOST_IP LAN_HOST_MAC WAN_HOST_MAC\n");
    return 2;
  }
  lan.name = argv[1];
  wan.name = argv[2];
  lan.ip = parse_ip(argv[3]);
  wan.ip = parse_ip(argv[4]);
  lan_host = parse_ip(argv[5]);
  parse_mac(argv[6], lan_host_mac);
  parse_mac(argv[7], wan_host_mac);
  open_port(&lan);
  open_port(&wan);
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0); // as ours: the default 50 µs would stretch each sleep
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  printf("{\"event\":\"floor_started\"}\n");
  fflush(stdout);
  struct pollfd fds[2] = { { .fd = lan.fd, .events = POLLIN }, { .fd = wan.fd, .events = POLLIN } };
  while (!stopping) {
    // As ours (packet_ring.c): a wake-up reads the rings until they are empty (at most
    // MAX_PASSES batches), then busy polls, or while traffic is dense sleeps and reads again;
    // each for at most TURN_MAX_NS, then back to poll.
    if (pass() == 0) {
      if (poll(fds, 2, -1) < 0 && errno != EINTR) die("poll", "");
      continue;
    }
    for (unsigned i = 1; i < MAX_PASSES && pass() > 0; i++) {}
    uint64_t start = now_ns(), until = start + BUSY_POLL_NS;
    while (!dense && now_ns() < until && now_ns() - start < TURN_MAX_NS) {
      if (pass() > 0) until = now_ns() + BUSY_POLL_NS;
    }
    start = now_ns();
    for (unsigned found = 1; found && dense && now_ns() - start < TURN_MAX_NS;) {
      struct timespec pause = { 0, COALESCE_NS };
      nanosleep(&pause, NULL);
      found = 0;
      while (pass() > 0 && now_ns() - start < TURN_MAX_NS) found = 1;
    }
  }
  unsigned long ring_drops = 0;
  for (port_t *p = &lan; p != NULL; p = p == &lan ? &wan : NULL) {
    struct tpacket_stats st;
    socklen_t sl = sizeof st;
    if (getsockopt(p->fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl) == 0) ring_drops += st.tp_drops;
  }
  printf("{\"event\":\"floor_stopped\",\"forwarded\":%lu,\"dropped\":%lu,\"ring_drops\":%lu}\n", forwarded, dropped, ring_drops);
  return 0;
}
