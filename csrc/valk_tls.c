/*
 * valk_tls.c: OpenSSL contexts, memory-BIO sessions, self-signed certificates.
 * Thread: see valk_tls.h. No global state of our own.
 */
#include "valk_tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "valk_common.h"

/* What the server offers, preferred first: h2, then http/1.1 (docs/design.md §12). */
static const unsigned char valk__alpn_server[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

static void valk__tls_err(char *err, size_t err_len, const char *what) {
  unsigned long code = ERR_get_error();
  char reason[200] = "";
  if (code != 0) ERR_error_string_n(code, reason, sizeof(reason));
  ERR_clear_error();
  snprintf(err, err_len, "%s%s%s", what, code ? ": " : "", reason);
}

static int valk__alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                             const unsigned char *in, unsigned int inlen, void *arg) {
  unsigned char *sel = NULL;
  (void)ssl;
  (void)arg;
  if (SSL_select_next_proto(&sel, outlen, valk__alpn_server, sizeof(valk__alpn_server), in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

static int valk__ctx_load_chain(SSL_CTX *ctx, const char *cert_pem, size_t cert_len,
                                char *err, size_t err_len) {
  BIO *bio = BIO_new_mem_buf(cert_pem, (int)cert_len);
  X509 *leaf = NULL, *extra;
  int rc = VALK_ETLS;

  if (bio == NULL) goto fail;
  leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  if (leaf == NULL || SSL_CTX_use_certificate(ctx, leaf) != 1) {
    valk__tls_err(err, err_len, "cannot read the certificate (PEM)");
    goto fail;
  }
  while ((extra = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
      X509_free(extra);
      valk__tls_err(err, err_len, "cannot add a chain certificate");
      goto fail;
    }
  }
  ERR_clear_error(); /* the loop ends on "no start line" */
  rc = 0;
fail:
  X509_free(leaf);
  BIO_free(bio);
  return rc;
}

static int valk__ctx_load_key(SSL_CTX *ctx, const char *key_pem, size_t key_len, char *err,
                              size_t err_len) {
  BIO *bio = BIO_new_mem_buf(key_pem, (int)key_len);
  EVP_PKEY *key = NULL;
  int rc = VALK_ETLS;

  if (bio == NULL) goto fail;
  key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
  if (key == NULL || SSL_CTX_use_PrivateKey(ctx, key) != 1) {
    valk__tls_err(err, err_len, "cannot read the private key (PEM)");
    goto fail;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    valk__tls_err(err, err_len, "the private key does not match the certificate");
    goto fail;
  }
  rc = 0;
fail:
  EVP_PKEY_free(key);
  BIO_free(bio);
  return rc;
}

int valk_tls_server_ctx_new(SSL_CTX **out, const char *key_pem, size_t key_len,
                            const char *cert_pem, size_t cert_len, char *err,
                            size_t err_len) {
  SSL_CTX *ctx;

  *out = NULL;
  ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL) {
    valk__tls_err(err, err_len, "SSL_CTX_new failed");
    return VALK_ETLS;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE |
                           SSL_MODE_RELEASE_BUFFERS); /* an idle connection holds no record buffers (about 9 KB less each) */
  /* TLS 1.2: ECDHE with AEAD only, as RFC 9113 requires of HTTP/2. */
  if (SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
    valk__tls_err(err, err_len, "cannot set the cipher list");
    goto fail;
  }
  if (valk__ctx_load_chain(ctx, cert_pem, cert_len, err, err_len) != 0) goto fail;
  if (valk__ctx_load_key(ctx, key_pem, key_len, err, err_len) != 0) goto fail;
  SSL_CTX_set_alpn_select_cb(ctx, valk__alpn_select, NULL);
  *out = ctx;
  return 0;
fail:
  SSL_CTX_free(ctx);
  return VALK_ETLS;
}

/* A new, empty memory BIO; empty, it reports "retry" rather than EOF. NULL on ENOMEM. */
static BIO *valk__bio_new(void) {
  BIO *b = BIO_new(BIO_s_mem());
  if (b != NULL) BIO_set_mem_eof_return(b, -1);
  return b;
}

int valk_tls_session_new(SSL_CTX *ctx, SSL **out, BIO **rbio, BIO **wbio) {
  SSL *ssl = SSL_new(ctx);
  BIO *in, *outb;

  *out = NULL;
  if (ssl == NULL) return VALK_ENOMEM;
  in = valk__bio_new();
  outb = valk__bio_new();
  if (in == NULL || outb == NULL) {
    BIO_free(in);
    BIO_free(outb);
    SSL_free(ssl);
    return VALK_ENOMEM;
  }
  SSL_set_bio(ssl, in, outb);
  SSL_set_accept_state(ssl);
  *out = ssl;
  *rbio = in;
  *wbio = outb;
  return 0;
}

int valk_tls_rbio_renew(SSL *ssl, BIO **rbio) {
  BIO *b;
  if (BIO_ctrl_pending(*rbio) != 0 || (b = valk__bio_new()) == NULL) return 0;
  SSL_set0_rbio(ssl, b); /* frees the old one */
  *rbio = b;
  return 1;
}

BIO *valk_tls_mem_bio_new(void) {
  return valk__bio_new();
}

int valk_tls_alpn_is_h2(const SSL *ssl) {
  const unsigned char *proto = NULL;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl, &proto, &len);
  return len == 2 && memcmp(proto, "h2", 2) == 0;
}

static char *valk__bio_to_string(BIO *bio) {
  char *data;
  long len = BIO_get_mem_data(bio, &data);
  char *copy = malloc((size_t)len + 1);
  if (copy == NULL) return NULL;
  memcpy(copy, data, (size_t)len);
  copy[len] = '\0';
  return copy;
}

static int valk__add_san(X509 *x509, const char *const *hosts, int nhosts) {
  GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
  int i, rc = VALK_ETLS;

  if (names == NULL) return VALK_ENOMEM;
  for (i = 0; i < nhosts; i++) {
    unsigned char addr[16];
    GENERAL_NAME *gn = GENERAL_NAME_new();
    if (gn == NULL) goto fail;
    if (inet_pton(AF_INET, hosts[i], addr) == 1 || inet_pton(AF_INET6, hosts[i], addr) == 1) {
      ASN1_OCTET_STRING *ip = a2i_IPADDRESS(hosts[i]);
      GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
    } else {
      ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
      ASN1_STRING_set(dns, hosts[i], (int)strlen(hosts[i]));
      GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
    }
    sk_GENERAL_NAME_push(names, gn);
  }
  if (X509_add1_ext_i2d(x509, NID_subject_alt_name, names, 0, 0) == 1) rc = 0;
fail:
  GENERAL_NAMES_free(names);
  return rc;
}

int valk_tls_self_signed(const char *const *hosts, int nhosts, int days, char **key_pem,
                         char **cert_pem) {
  EVP_PKEY *key = NULL;
  X509 *x509 = NULL;
  BIO *kb = NULL, *cb = NULL;
  X509_NAME *name;
  int rc = VALK_ETLS;

  *key_pem = *cert_pem = NULL;
  if (nhosts < 1 || days < 1) return VALK_EINVAL;
  key = EVP_EC_gen("P-256");
  x509 = X509_new();
  if (key == NULL || x509 == NULL) goto fail;
  X509_set_version(x509, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x509), (long)(valk_now_ms() & 0x7fffffff));
  X509_gmtime_adj(X509_getm_notBefore(x509), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x509), (long)days * 86400);
  X509_set_pubkey(x509, key);
  name = X509_get_subject_name(x509);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"valk-aio", -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)hosts[0], -1, -1, 0);
  X509_set_issuer_name(x509, name);
  if (valk__add_san(x509, hosts, nhosts) != 0) goto fail;
  if (X509_sign(x509, key, EVP_sha256()) == 0) goto fail;

  kb = BIO_new(BIO_s_mem());
  cb = BIO_new(BIO_s_mem());
  if (kb == NULL || cb == NULL) goto fail;
  if (PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) != 1) goto fail;
  if (PEM_write_bio_X509(cb, x509) != 1) goto fail;
  *key_pem = valk__bio_to_string(kb);
  *cert_pem = valk__bio_to_string(cb);
  if (*key_pem == NULL || *cert_pem == NULL) {
    free(*key_pem);
    free(*cert_pem);
    *key_pem = *cert_pem = NULL;
    rc = VALK_ENOMEM;
    goto fail;
  }
  rc = 0;
fail:
  ERR_clear_error();
  BIO_free(kb);
  BIO_free(cb);
  X509_free(x509);
  EVP_PKEY_free(key);
  return rc;
}

const char *valk_tls_openssl_version(void) {
  return OpenSSL_version(OPENSSL_VERSION_STRING);
}
