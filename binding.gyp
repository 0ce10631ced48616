{
  # Three targets:
  #  - nghttp2: Debian's patched nghttp2 source (fetched by deps/nghttp2.sh, never
  #    committed) as a PIC static library with hidden visibility, so the addon's
  #    session calls bind to this copy and never to the nghttp2 the node binary exports.
  #  - llhttp: Debian's llhttp sources (node-llhttp, fetched by deps/llhttp.sh, never
  #    committed), the same way: the node binary exports its own llhttp_* too.
  #  - valk_aio: the addon: csrc/*.c (the AIO core, C11) and the thin nan binding,
  #    csrc/*.cc (one file per job; csrc/binding.h lists them).
  #    OpenSSL and libuv come from the node process itself (headers in
  #    <nodedir>/include/node): no second libssl/libcrypto is linked.
  "variables": {
    "valk_sanitize%": "",
  },
  "target_defaults": {
    "conditions": [
      ["valk_sanitize!=''", {
        "cflags": ["-fsanitize=<(valk_sanitize)", "-fno-omit-frame-pointer", "-g", "-O1"],
        "cflags_cc": ["-fsanitize=<(valk_sanitize)", "-fno-omit-frame-pointer", "-g", "-O1"],
        "ldflags": ["-fsanitize=<(valk_sanitize)"],
      }],
    ],
  },
  "targets": [
    {
      "target_name": "nghttp2",
      "type": "static_library",
      "sources": ["<!@(ls -1 deps/nghttp2/lib/*.c)"],
      "include_dirs": ["deps/nghttp2/lib/includes", "deps/nghttp2/lib"],
      "defines": [
        "NGHTTP2_STATICLIB",
        "HAVE_ARPA_INET_H",
        "HAVE_NETINET_IN_H",
        "HAVE_TIME_H",
        "HAVE_CLOCK_GETTIME",
      ],
      "cflags": ["-fPIC", "-fvisibility=hidden", "-O2", "-Wno-unused-parameter"],
      "cflags_c": ["-std=gnu11"],
      "direct_dependent_settings": {
        "include_dirs": ["deps/nghttp2/lib/includes"],
        "defines": ["NGHTTP2_STATICLIB"],
      },
    },
    {
      "target_name": "llhttp",
      "type": "static_library",
      "sources": ["deps/llhttp/llhttp.c", "deps/llhttp/api.c", "deps/llhttp/http.c"],
      "include_dirs": ["deps/llhttp"],
      "cflags": ["-fPIC", "-fvisibility=hidden", "-O2", "-Wno-unused-parameter"],
      "cflags_c": ["-std=gnu11"],
      "direct_dependent_settings": {
        "include_dirs": ["deps/llhttp"],
      },
    },
    {
      "target_name": "valk_aio",
      "dependencies": ["nghttp2", "llhttp"],
      "sources": [
        "<!@(ls -1 csrc/*.cc)",
        "<!@(ls -1 csrc/*.c)",
      ],
      "include_dirs": ["<!(node -e \"require('nan')\")", "csrc"],
      "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "cflags_c": ["-std=gnu11", "-Wno-missing-field-initializers"],
      "cflags_cc": ["-Wno-cast-function-type", "-Wno-deprecated-declarations"],
      "ldflags": ["-Wl,--exclude-libs,ALL"],
    },
  ],
}
