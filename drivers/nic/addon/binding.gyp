{
  "targets": [
    {
      "target_name": "packet_ring",
      "sources": ["packet_ring.c", "sparse_flows.c", "netconf.c", "memory_trim.c", "serial_line.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
