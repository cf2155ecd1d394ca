/*  gw_tls: the gateway's own TLS, for deployments without a proxy in front.
    With TLS_CERT_FILE and TLS_KEY_FILE set, every listener of the gateway (the public
    port: wss://, https://, Socket.IO; and the server API's port) speaks only TLS with
    that certificate; SIGHUP loads the files again.
    The one thing to know: this module, not libwebsockets, reads the files. lws makes
    each vhost's SSL_CTX empty (LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX) and hands it to
    us in LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS; we keep those SSL_CTXs
    and install certificate, chain and key with one SSL_CTX_use_cert_and_key, which
    changes all three or nothing. A reload therefore validates the new files first and
    swaps them in place: connections already open keep the certificate they were
    accepted with (OpenSSL copies it into each SSL at accept), new ones get the new one,
    and bad new files leave the old certificate serving. */
#ifndef GW_TLS_H
#define GW_TLS_H

#include <stdint.h>

#include "pl_buf.h"

struct lws_context_creation_info;
typedef struct gw_tls gw_tls_t;

#define GW_TLS_FILE_MAX (1024 * 1024) /* bytes of one PEM file (a chain is a few KiB) */
#define GW_TLS_VHOSTS 2               /* SSL_CTXs kept: the public port and the API */

/* Read and check both PEM files (certificate first, then any chain; an unencrypted
   key that matches the certificate). NULL after logging one line naming the variable
   and the reason. The paths are copied (a reload reads them again). */
gw_tls_t *gw_tls_new(const char *cert_file, const char *key_file);
void gw_tls_destroy(gw_tls_t **self_p);

/* Make a vhost (or the context's default vhost) a TLS one whose SSL_CTX is ours to
   fill: options and ALPN (HTTP/1.1 only). Nothing when self is NULL. */
void gw_tls_vhost_info(const gw_tls_t *self, struct lws_context_creation_info *info);

/* From LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS (ssl_ctx: the callback's
   `user`): install the current certificate and remember the SSL_CTX for reloads.
   0, or -1 (logged), which makes lws fail the vhost. */
int gw_tls_attach(gw_tls_t *self, void *ssl_ctx);

/* SIGHUP: read the files again and, if they are good, serve them to new connections.
   0, or -1 (logged) with the old certificate still in place. */
int gw_tls_reload(gw_tls_t *self);

/* Prometheus lines (appended to the gateway's /metrics): the serving certificate's
   expiry and the reloads by result. Nothing when self is NULL. */
void gw_tls_render_metrics(const gw_tls_t *self, pl_buf_t *o);

#endif
