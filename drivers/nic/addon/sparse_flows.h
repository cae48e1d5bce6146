// Sparse flows first (sparse_flows.c): which frames waiting in a receive ring may go ahead.
#ifndef SPARSE_FLOWS_H
#define SPARSE_FLOWS_H
#include <stdint.h>

#define SPARSE_BUCKETS 1024u
#define SPARSE_QUEUE 64u
// A flow is sparse when nothing of it waits and its last frame came at least this long before.
#define SPARSE_GAP_NS 1000000u
// A sparse frame is interactive (a ping, a game's or a call's packet, a DNS query) when it is not
// TCP and its flow sent nothing for this long: under 200 frames a second. A paced UDP stream
// (a QUIC download, a video) sends faster; its frames still go ahead in their ring, but take no
// turns from the other rings (packet_ring.c), which cost TCP 23-33% of its throughput while a
// 5 Mbit/s one ran (README, "Turns between rings").
#define INTERACTIVE_GAP_NS 5000000u

// The frames of one ring, counted per flow bucket, and the slots of the sparse ones in arrival order.
typedef struct {
  uint32_t backlog[SPARSE_BUCKETS]; // frames classified and not yet handed out, per bucket
  uint64_t last_ns[SPARSE_BUCKETS]; // arrival of the bucket's last frame (the kernel's stamp)
  uint32_t queue[SPARSE_QUEUE];     // ring slots of sparse frames, oldest first (| SPARSE_INTERACTIVE)
  unsigned head, len;
  unsigned interactive;             // of which interactive (INTERACTIVE_GAP_NS)
} sparse_flows_t;

// The flow bucket of an Ethernet frame: 1..SPARSE_BUCKETS-1 for IPv4, 0 for anything else;
// *tcp says whether it is TCP.
unsigned flow_bucket(const uint8_t *frame, uint32_t len, int *tcp);

// A frame of `bucket` at `slot` arrived at `at_ns`: queued to go ahead when its flow is sparse.
void sparse_arrived(sparse_flows_t *s, unsigned bucket, int tcp, uint32_t slot, uint64_t at_ns);

// A frame of `bucket` was handed out (ahead or in ring order).
void sparse_left(sparse_flows_t *s, unsigned bucket);

// The oldest sparse frame's slot, and in *interactive whether it is interactive; call only while s->len > 0.
uint32_t sparse_take(sparse_flows_t *s, int *interactive);

#endif
