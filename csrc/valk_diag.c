/*
 * valk_diag.c: see valk_diag.h. Thread: any.
 */
#define _GNU_SOURCE
#include "valk_diag.h"

#include <dlfcn.h>
#include <nghttp2/nghttp2.h>
#include <string.h>

#include "valk_common.h"

int valk_diag_nghttp2_origin(valk_diag_origin_t *out) {
  Dl_info info;
  void *global;

  memset(out, 0, sizeof(*out));
  out->ours_addr = (const void *)&nghttp2_session_mem_recv;
  if (dladdr(out->ours_addr, &info) == 0) return VALK_ENOTFOUND;
  out->ours_file = info.dli_fname;
  global = dlsym(RTLD_DEFAULT, "nghttp2_session_mem_recv");
  if (global != NULL && dladdr(global, &info) != 0) {
    out->global_addr = global;
    out->global_file = info.dli_fname;
  }
  return 0;
}

const char *valk_diag_nghttp2_version(void) {
  return nghttp2_version(0)->version_str;
}
