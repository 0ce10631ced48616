/*
 * valk_diag.h: facts about the process the addon runs in, for tests and
 * `valk-aio config`: which nghttp2 and llhttp copies our calls reach, which
 * OpenSSL.
 * Thread: any; reads only.
 */
#ifndef VALK_DIAG_H
#define VALK_DIAG_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct valk_diag_origin {
  const char *ours_file;   /* object holding the function the addon calls */
  const void *ours_addr;   /* its address */
  const char *global_file; /* object of the same symbol found by a global lookup (node's), or NULL */
  const void *global_addr; /* its address, or NULL */
} valk_diag_origin_t;

/* Fills out for nghttp2_session_mem_recv. 0, or VALK_ENOTFOUND if dladdr fails. */
int valk_diag_nghttp2_origin(valk_diag_origin_t *out);

/* The same for llhttp_execute. */
int valk_diag_llhttp_origin(valk_diag_origin_t *out);

/* "major.minor.patch" of the llhttp compiled into the addon. */
const char *valk_diag_llhttp_version(void);

/* NGHTTP2_VERSION of the copy compiled into the addon. */
const char *valk_diag_nghttp2_version(void);

#ifdef __cplusplus
}
#endif
#endif /* VALK_DIAG_H */
