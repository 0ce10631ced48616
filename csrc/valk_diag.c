/*
 * valk_diag.c: see valk_diag.h. Thread: any.
 */
#define _GNU_SOURCE
#include "valk_diag.h"

#include <dlfcn.h>
#include <llhttp.h>
#include <nghttp2/nghttp2.h>
#include <string.h>

#include "valk_common.h"

/* Where ours (the addon's call target) lives, and where a global lookup of
 * name (node's export, if any) does. */
static int valk__origin(const void *ours, const char *name, valk_diag_origin_t *out) {
  Dl_info info;
  void *global;

  memset(out, 0, sizeof(*out));
  out->ours_addr = ours;
  if (dladdr(out->ours_addr, &info) == 0) return VALK_ENOTFOUND;
  out->ours_file = info.dli_fname;
  global = dlsym(RTLD_DEFAULT, name);
  if (global != NULL && dladdr(global, &info) != 0) {
    out->global_addr = global;
    out->global_file = info.dli_fname;
  }
  return 0;
}

int valk_diag_nghttp2_origin(valk_diag_origin_t *out) {
  return valk__origin((const void *)&nghttp2_session_mem_recv, "nghttp2_session_mem_recv", out);
}

int valk_diag_llhttp_origin(valk_diag_origin_t *out) {
  return valk__origin((const void *)&llhttp_execute, "llhttp_execute", out);
}

#define VALK__STR2(x) #x
#define VALK__STR(x) VALK__STR2(x)

const char *valk_diag_llhttp_version(void) {
  return VALK__STR(LLHTTP_VERSION_MAJOR) "." VALK__STR(LLHTTP_VERSION_MINOR) "." VALK__STR(LLHTTP_VERSION_PATCH);
}

const char *valk_diag_nghttp2_version(void) {
  return nghttp2_version(0)->version_str;
}
