{
  "targets": [
    {
      "target_name": "nitride_gcm",
      "sources": ["gcm.c", "tap.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
