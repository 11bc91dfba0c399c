{
  "targets": [
    {
      "target_name": "nitride_xts",
      "sources": ["xts.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    }
  ]
}
