{
  "targets": [
    {
      "target_name": "packet_ring",
      "sources": ["packet_ring.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
