/*
 * valk_tls.h: OpenSSL glue. Uses the one OpenSSL in the process (Node's own,
 * whose headers and exported symbols we compile and link against); never a
 * second libssl/libcrypto.
 *
 * Thread: valk_tls_server_ctx_new and valk_tls_self_signed run on any thread
 * (Node's main thread in practice). An SSL_CTX is shared read-only by the AIO
 * thread afterwards. Each SSL* made by valk_tls_session_new belongs to the AIO
 * thread that serves its connection.
 */
#ifndef VALK_TLS_H
#define VALK_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Server context from PEM key and certificate chain (leaf first). TLS 1.2
 * minimum, ALPN selects "h2" (a client that does not offer it fails the
 * handshake with no_application_protocol), AEAD ciphers only (RFC 9113 §9.2).
 * Returns 0 and *out, or VALK_ETLS with a reason in err.
 */
int valk_tls_server_ctx_new(SSL_CTX **out, const char *key_pem, size_t key_len,
                            const char *cert_pem, size_t cert_len, char *err,
                            size_t err_len);

/*
 * A server-side SSL* reading from and writing to two memory BIOs, returned in
 * *rbio (ciphertext in: BIO_write what the socket read) and *wbio (ciphertext
 * out: BIO_read what to send). The BIOs are owned by the SSL.
 */
int valk_tls_session_new(SSL_CTX *ctx, SSL **out, BIO **rbio, BIO **wbio);

/* A new, empty memory BIO that reports "retry" when empty, or NULL (ENOMEM). */
BIO *valk_tls_mem_bio_new(void);

/*
 * Replaces ssl's read BIO (*rbio) by a new, empty memory BIO if it holds no
 * bytes: a memory BIO's buffer never shrinks by itself. Returns 1 when it did.
 */
int valk_tls_rbio_renew(SSL *ssl, BIO **rbio);

/* 1 if the handshake negotiated ALPN "h2". */
int valk_tls_alpn_is_h2(const SSL *ssl);

/*
 * A self-signed certificate (EC P-256, SHA-256) for hosts: each entry goes into
 * subjectAltName as IP (if it parses as an IPv4/IPv6 address) or DNS; the first
 * is the subject CN. *key_pem and *cert_pem are malloc'd NUL-terminated PEM the
 * caller frees. Returns 0 or VALK_ETLS / VALK_EINVAL.
 */
int valk_tls_self_signed(const char *const *hosts, int nhosts, int days,
                         char **key_pem, char **cert_pem);

/* OpenSSL_version(OPENSSL_VERSION_STRING): "3.0.19" etc. */
const char *valk_tls_openssl_version(void);

#ifdef __cplusplus
}
#endif
#endif /* VALK_TLS_H */
