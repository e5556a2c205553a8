/*
 * smtp.h - the SMTP client's shared state: where a delivery goes (the
 * next hop's addresses), one SMTP session with a server and what it
 * offered, one message from the queue, and the per-recipient outcome.
 *
 * The delivery of one request (smtp.c) walks the destination's addresses
 * in order (smtp_dest.c), opens a session to each in turn (smtp_session.c:
 * connect, greeting, EHLO/HELO, STARTTLS (smtp_tls.c), AUTH
 * (smtp_sasl.c)), runs one
 * mail transaction (smtp_trans.c) and streams the content (smtp_body.c).
 * A recipient whose result is final (2xx, 5xx) is done; a 4xx result
 * stays open for the next address and is reported only when no address
 * is left.
 */
#ifndef TERN_SMTP_H
#define TERN_SMTP_H

#include "sys.h"

#include <sys/socket.h>

#include "deliver.h"
#include "qfile.h"
#include "smtp_reply.h"
#include "str.h"
#include "stream.h"
#include "tls.h"

/* One address to try: the host it belongs to and where to connect. */
struct smtp_addr {
    char *host;                 /* MX host name, or the next hop's host */
    char text[46];              /* printable IP address */
    struct sockaddr_storage sa; /* with the port set */
    socklen_t salen;
    unsigned port;
};

/* The addresses of a next hop, best first. */
struct smtp_dest {
    struct smtp_addr *v;
    size_t n;
};

/* Why a next hop or a session failed: a DSN-ready status for everyone. */
struct smtp_fail {
    int status; /* 0: no failure; DELIVER_TEMP or DELIVER_PERM */
    char dsn[16];
    str_t *why;
};

/* Extensions the server announced in its EHLO reply. */
#define SMTP_FEAT_ESMTP 0x001
#define SMTP_FEAT_PIPELINING 0x002
#define SMTP_FEAT_SIZE 0x004
#define SMTP_FEAT_8BITMIME 0x008
#define SMTP_FEAT_DSN 0x010
#define SMTP_FEAT_SMTPUTF8 0x020
#define SMTP_FEAT_CHUNKING 0x040
#define SMTP_FEAT_STARTTLS 0x080
#define SMTP_FEAT_AUTH 0x100

struct smtp_session {
    stream_t *s;
    char *nexthop;    /* the request's next hop (for connection reuse) */
    char *label;      /* "host[addr]:port" for logs and DSNs */
    char *host_label; /* "host[addr]" as in "host X said: ..." */
    unsigned features;
    uint64_t size_limit; /* SIZE value, 0 = none given */
    char *auth_mechs;    /* the AUTH mechanisms offered, or NULL */
    struct smtp_reply reply;
    int64_t idle_since_ms; /* when the last transaction ended */
    bool rset_pending;     /* reused: RSET goes out pipelined before MAIL */
    bool broken;           /* the connection cannot be used again */
};

/* One message being delivered. */
struct smtp_msg {
    struct deliver_request *req;
    qfile_t *qf;
    uint64_t size;      /* content bytes as stored (LF line ends) */
    bool eight_bit;     /* content has bytes >= 0x80 */
    bool mime_text;     /* a plain text body QP conversion can handle */
    bool smtputf8;      /* needs SMTPUTF8 (requested, or UTF-8 addresses) */
    bool *done;         /* per recipient: result is final */
    str_t *content;     /* the whole content when small (smtp_body.c), or NULL */
    size_t content_off; /* read position in content */
    bool open_end;      /* the content does not end with a line end */
    const char *relay;  /* the session's "host[addr]:port" while one is open */
};

/* smtp_fail.c */
void smtp_fail_init(struct smtp_fail *f);
/* Back to "no failure". */
void smtp_fail_reset(struct smtp_fail *f);
void smtp_fail_free(struct smtp_fail *f);
void smtp_fail_set(struct smtp_fail *f, int status, const char *dsn, const char *fmt, ...)
    TERN_PRINTF(4, 5);

/* smtp_dest.c: the addresses of nexthop ("[host]:port", "domain:port"). */
int smtp_dest_lookup(const char *nexthop, struct smtp_dest *d, struct smtp_fail *f);
void smtp_dest_free(struct smtp_dest *d);
/* Split a next hop into host, port and whether MX lookup applies. */
int smtp_nexthop_parse(const char *nexthop, char **host_r, unsigned *port_r, bool *mx_r);

/* smtp_session.c */
/* Connect and say hello: 0 and *sp, or -1 with f set (try the next address). */
int smtp_session_open(const struct smtp_addr *a, const char *nexthop, struct smtp_session **sp,
                      struct smtp_fail *f);
/* EHLO, or HELO when EHLO is refused (features updated); 0 or -1 with f. */
int smtp_session_ehlo(struct smtp_session *ss, struct smtp_fail *f);
/* QUIT (when the connection is fine) and free. */
void smtp_session_close(struct smtp_session **sp);
/* Send one command line (CRLF added) into the output buffer. */
void smtp_session_cmd(struct smtp_session *ss, const char *fmt, ...) TERN_PRINTF(2, 3);
/* Read a reply with the given timeout parameter; -1 sets f (connection lost). */
int smtp_session_reply(struct smtp_session *ss, const char *timeout_param, const char *stage,
                       struct smtp_fail *f);
/* The server's reply as DSN text: "host H[A] said: ... (in reply to X command)". */
void smtp_session_said(struct smtp_session *ss, str_t *out, const char *command);
/* Cached connection for nexthop (RSET-checked), or NULL; see smtp_cache_put. */
struct smtp_session *smtp_cache_get(const char *nexthop);
void smtp_cache_put(struct smtp_session **sp);
void smtp_cache_expire(bool all);

/* smtp_tls.c: the TLS policy of a next hop and STARTTLS. */
struct smtp_tls_policy {
    enum tls_level level;
    char *match;     /* the name the certificate must carry, or NULL */
    char *protocols; /* protocol list, or NULL: from the parameters */
};
/* 0, or -1 with f set (bad policy, table error). */
int smtp_tls_policy_get(const char *nexthop, struct smtp_tls_policy *p, struct smtp_fail *f);
void smtp_tls_policy_free(struct smtp_tls_policy *p);
#define SMTP_TLS_RETRY_PLAIN 1
/*
 * STARTTLS as the level asks, then EHLO again: 0 (TLS, or plaintext
 * where the level allows it), -1 with f set, or SMTP_TLS_RETRY_PLAIN
 * (level may, the handshake failed: connect again without TLS).
 */
int smtp_tls_start(struct smtp_session *ss, const struct smtp_addr *a,
                   const struct smtp_tls_policy *p, struct smtp_fail *f);
void smtp_tls_cleanup(void);
/* Before the privilege drop: read the client certificate and key, if any. */
void smtp_tls_init(void);

/* smtp_sasl.c: AUTH to the next hop when configured; 0 or -1 with f set. */
int smtp_sasl_auth(struct smtp_session *ss, const struct smtp_addr *a, struct smtp_fail *f);

/*
 * smtp_trans.c: one transaction; results into msg->req, done[] updated.
 * SMTP_TRANS_STALE: a reused connection was found dead before the server
 * took anything (no result recorded: connect afresh); else 0.
 */
#define SMTP_TRANS_STALE 1
int smtp_trans_run(struct smtp_session *ss, struct smtp_msg *msg);

/* smtp_body.c */
/* Scan the content: size, 8-bit, MIME shape; -1 with *error_r. */
int smtp_body_scan(struct smtp_msg *msg, char **error_r);
/*
 * Send the content with CRLF line ends: for DATA dot-stuffed and ended
 * with ".", QP-encoding the body if asked; for BDAT (bdat) exactly
 * smtp_body_wire_size() bytes, no stuffing, never QP.
 */
int smtp_body_send(struct smtp_msg *msg, stream_t *s, bool to_qp, bool bdat, char **error_r);
/* The content's size on the wire as BDAT sends it. */
uint64_t smtp_body_wire_size(const struct smtp_msg *msg);

#endif
