{
  "targets": [
    {
      "target_name": "wgts_tun",
      "sources": ["tun.c", "udp.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [["OS!='linux'", {"type": "none", "sources": []}]]
    }
  ]
}
