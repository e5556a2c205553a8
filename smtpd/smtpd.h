/*
 * smtpd.h - the SMTP server daemon's session state and the interfaces
 * between its parts: the session loop and replies (smtpd.c), the command
 * handlers (smtpd_cmd.c), message content and the hand-off to cleanup
 * (smtpd_data.c), the restriction lists (smtpd_check.c), client
 * network lists such as mynetworks (smtpd_net.c), TLS (smtpd_tls.c) and
 * SMTP AUTH (smtpd_auth.c).
 */
#ifndef TERN_SMTPD_H
#define TERN_SMTPD_H

#include "sys.h"

#include <netinet/in.h>

#include "addr.h"
#include "cleanup_client.h"
#include "smtp_cmd.h"
#include "str.h"
#include "stream.h"

/* Settings read once after the configuration is loaded. */
struct smtpd_config {
    char *myhostname;
    char *banner;
    size_t line_limit;
    uint64_t size_limit; /* 0 = unlimited */
    long recipient_limit;
    long hard_limit, soft_limit, junk_limit;
    long error_sleep;
    int timeout;
    bool helo_required, delay_reject, vrfy_disabled, smtputf8, strict;
    bool reject_unlisted, allow_untrusted_routing;
    bool forbid_pipelining;
    int bare_lf;      /* SMTPD_BARE_LF_* */
    unsigned ext;     /* ADDR_EXT_* advertised */
    int tls_level;    /* enum tls_level: none, may or encrypt */
    bool tls_wrapper; /* smtpd_tls_wrappermode: TLS from the first byte */
    bool tls_received_header;
    int tls_loglevel;
    bool sasl_enable;   /* smtpd_sasl_auth_enable */
    bool tls_auth_only; /* smtpd_tls_auth_only: no AUTH before TLS */
};

enum { SMTPD_BARE_LF_REJECT, SMTPD_BARE_LF_NORMALIZE };

struct smtpd_rcpt {
    char *addr;
    char *orcpt;  /* "type;addr", or NULL */
    char *notify; /* "SUCCESS,FAILURE", or NULL */
};

struct smtpd_session {
    stream_t *client;
    const struct smtpd_config *cfg;
    char addr[INET6_ADDRSTRLEN];
    char port[8];
    char name[16];                       /* "unknown": no reverse DNS yet */
    char namaddr[INET6_ADDRSTRLEN + 32]; /* unknown[192.0.2.1] */
    bool in_mynetworks;
    bool bare_lf_ok; /* normalize bare LF for this client */
    char *helo;
    bool esmtp;
    char *sasl_username;     /* authenticated user (authd's name), or NULL */
    const char *sasl_method; /* "PLAIN" or "LOGIN" when authenticated */
    long auth_failures;
    /* transaction */
    bool mail_given;
    struct addr_path sender;
    struct addr_mail_opts mopts;
    struct smtpd_rcpt *rcpts;
    size_t nrcpt, rcpt_cap;
    cleanup_t *bdat;  /* open cleanup while BDAT chunks arrive */
    bool bdat_active; /* a BDAT transaction is under way */
    int bdat_code;    /* its sticky error reply, 0 = none */
    char *bdat_error;
    struct smtp_data bdat_dec;
    uint64_t bdat_size;
    /* session */
    str_t *line;
    const char *last_cmd; /* for "lost connection after X" */
    long errors, junk;
    unsigned ok[SMTP_VERB_COUNT], total[SMTP_VERB_COUNT];
    bool quit; /* leave the command loop */
};

/* smtpd.c: replies. Each ends the line with CRLF; 4xx/5xx count as errors. */
void smtpd_reply(struct smtpd_session *s, const char *fmt, ...) TERN_PRINTF(2, 3);
/* A reply that ends the session (421/521/554): sent, flushed, loop left. */
void smtpd_reply_fatal(struct smtpd_session *s, const char *fmt, ...) TERN_PRINTF(2, 3);
/* Log a stream failure (timeout/lost connection) and end the session. */
void smtpd_io_failed(struct smtpd_session *s, int status);
/* Forget the MAIL transaction (RSET, EHLO, after DATA). */
void smtpd_reset(struct smtpd_session *s);

/* smtpd_cmd.c: one handler per verb; return true when the command succeeded. */
bool smtpd_cmd_dispatch(struct smtpd_session *s, const struct smtp_cmd *cmd);

/* smtpd_data.c */
bool smtpd_cmd_data(struct smtpd_session *s);
bool smtpd_cmd_bdat(struct smtpd_session *s, const struct smtp_cmd *cmd);
void smtpd_bdat_abort(struct smtpd_session *s);

/*
 * smtpd_check.c: restriction lists.  Each returns NULL (go on) or a
 * malloc'ed reply "CODE X.Y.Z text" to send instead.
 */
char *smtpd_check_rcpt(struct smtpd_session *s, const struct addr_path *rcpt);
char *smtpd_check_client(struct smtpd_session *s);
char *smtpd_check_helo(struct smtpd_session *s);
char *smtpd_check_sender(struct smtpd_session *s);
void smtpd_check_init(void);

/*
 * smtpd_tls.c: the TLS context (smtpd_tls_init runs before chroot),
 * STARTTLS and wrapper mode; both return false when the session is over.
 */
void smtpd_tls_init(struct smtpd_config *c);
bool smtpd_tls_offer(const struct smtpd_session *s);
bool smtpd_cmd_starttls(struct smtpd_session *s);
bool smtpd_tls_wrapper_start(struct smtpd_session *s);
/* The reply refusing MAIL before TLS at level encrypt, or NULL. */
const char *smtpd_tls_mail_refusal(const struct smtpd_session *s);
/* SMTP, ESMTP, ESMTPS, ESMTPA or ESMTPSA, for cleanup and Received:. */
const char *smtpd_tls_protocol(const struct smtpd_session *s);
/* "TLSv1.3 with cipher ... (256/256 bits)" if it goes in Received:, else NULL. */
char *smtpd_tls_received_info(const struct smtpd_session *s);

/*
 * smtpd_auth.c: SMTP AUTH (RFC 4954).  smtpd_auth_offer says whether EHLO
 * lists AUTH now; smtpd_auth_reset forgets the login (STARTTLS, end).
 */
void smtpd_auth_config(struct smtpd_config *c);
bool smtpd_auth_offer(const struct smtpd_session *s);
/* The mechanisms for "250-AUTH" now (the security options for this TLS state). */
const char *smtpd_auth_mechs(const struct smtpd_session *s);
bool smtpd_cmd_auth(struct smtpd_session *s, const struct smtp_cmd *cmd);
void smtpd_auth_reset(struct smtpd_session *s);

/* smtpd_net.c: client address lists (mynetworks and the like). */
typedef struct smtpd_netlist smtpd_netlist_t;
smtpd_netlist_t *smtpd_netlist_open(const char *param);
/* 1 listed, 0 not, -1 lookup error. */
int smtpd_netlist_match(smtpd_netlist_t *l, const char *addr);

#endif
