// Sparse flows first (sparse_flows.c): which frames waiting in a receive ring may go ahead.
#ifndef SPARSE_FLOWS_H
#define SPARSE_FLOWS_H
#include <stdint.h>

#define SPARSE_BUCKETS 1024u
#define SPARSE_QUEUE 64u
// A flow is sparse when nothing of it waits and its last frame came at least this long before.
#define SPARSE_GAP_NS 1000000u

// The frames of one ring, counted per flow bucket, and the slots of the sparse ones in arrival order.
typedef struct {
  uint32_t backlog[SPARSE_BUCKETS]; // frames classified and not yet handed out, per bucket
  uint64_t last_ns[SPARSE_BUCKETS]; // arrival of the bucket's last frame (the kernel's stamp)
  uint32_t queue[SPARSE_QUEUE];     // ring slots of sparse frames, oldest first (| SPARSE_NOT_TCP)
  unsigned head, len;
  unsigned not_tcp;                 // of which not TCP: a ping, a game's or a call's packet, DNS
} sparse_flows_t;

// The flow bucket of an Ethernet frame: 1..SPARSE_BUCKETS-1 for IPv4, 0 for anything else;
// *tcp says whether it is TCP.
unsigned flow_bucket(const uint8_t *frame, uint32_t len, int *tcp);

// A frame of `bucket` at `slot` arrived at `at_ns`: queued to go ahead when its flow is sparse.
void sparse_arrived(sparse_flows_t *s, unsigned bucket, int tcp, uint32_t slot, uint64_t at_ns);

// A frame of `bucket` was handed out (ahead or in ring order).
void sparse_left(sparse_flows_t *s, unsigned bucket);

// The oldest sparse frame's slot, and in *tcp whether it is TCP; call only while s->len > 0.
uint32_t sparse_take(sparse_flows_t *s, int *tcp);

#endif
