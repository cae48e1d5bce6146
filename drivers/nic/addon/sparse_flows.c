// Sparse flows first: a frame whose flow has nothing else waiting in the ring is handed out
// ahead of the frames queued before it. This is FQ-CoDel's rule for new flows (RFC 8290 §4.1,
// after the "sparse flow" optimisation of §1.3): a ping, a game's or a call's packet, a DNS
// query, does not wait behind a download's backlog. A bulk flow always has frames waiting, so
// it keeps ring order; frames of one flow never overtake each other, since only a flow's first
// waiting frame goes ahead. Flows are hashed into buckets: a sparse flow that shares a bucket
// with a bulk one just waits its turn, as without this.

#include "sparse_flows.h"

#define SPARSE_INTERACTIVE 0x80000000u

static uint32_t be32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

unsigned flow_bucket(const uint8_t *f, uint32_t len, int *tcp) {
  *tcp = 0;
  if (len < 14 + 20 || f[12] != 0x08 || f[13] != 0x00) return 0;
  const uint8_t *ip = f + 14;
  unsigned ihl = (ip[0] & 0x0f) * 4u;
  if ((ip[0] >> 4) != 4 || ihl < 20 || 14 + ihl > len) return 0;
  unsigned proto = ip[9];
  *tcp = proto == 6;
  uint32_t h = be32(ip + 12) * 0x9e3779b1u ^ be32(ip + 16) * 0x85ebca77u ^ proto;
  // Ports (TCP, UDP) or the echo identifier (ICMP), unless a later fragment (no L4 header).
  int first_fragment = ((((unsigned)ip[6] << 8) | ip[7]) & 0x1fff) == 0;
  const uint8_t *l4 = ip + ihl;
  if (first_fragment && (proto == 6 || proto == 17) && 14 + ihl + 4 <= len) h ^= be32(l4) * 0xc2b2ae35u;
  else if (first_fragment && proto == 1 && 14 + ihl + 6 <= len) h ^= (((uint32_t)l4[4] << 8) | l4[5]) * 0xc2b2ae35u;
  h ^= h >> 16;
  return 1 + h % (SPARSE_BUCKETS - 1);
}

void sparse_arrived(sparse_flows_t *s, unsigned bucket, int tcp, uint32_t slot, uint64_t at_ns) {
  if (bucket == 0) return;
  uint64_t gap = at_ns - s->last_ns[bucket];
  if (s->backlog[bucket] == 0 && gap >= SPARSE_GAP_NS && s->len < SPARSE_QUEUE) {
    int interactive = !tcp && gap >= INTERACTIVE_GAP_NS;
    s->queue[(s->head + s->len++) % SPARSE_QUEUE] = slot | (interactive ? SPARSE_INTERACTIVE : 0);
    s->interactive += interactive;
  }
  s->backlog[bucket]++;
  s->last_ns[bucket] = at_ns;
}

void sparse_left(sparse_flows_t *s, unsigned bucket) {
  if (bucket != 0 && s->backlog[bucket] > 0) s->backlog[bucket]--;
}

uint32_t sparse_take(sparse_flows_t *s, int *interactive) {
  uint32_t entry = s->queue[s->head];
  s->head = (s->head + 1) % SPARSE_QUEUE;
  s->len--;
  *interactive = (entry & SPARSE_INTERACTIVE) != 0;
  s->interactive -= *interactive;
  return entry & ~SPARSE_INTERACTIVE;
}
