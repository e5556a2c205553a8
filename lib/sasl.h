/*
 * sasl.h - the server side of SASL PLAIN (RFC 4616) and LOGIN, shared by
 * smtpd (AUTH, RFC 4954), pop3d (AUTH, RFC 5034) and imapd (AUTHENTICATE,
 * RFC 9051): strict base64, bounded decoding, and the exchange that turns
 * client responses into a user name and password for authd.
 *
 * The protocol code sends each challenge the exchange hands back (base64
 * text, possibly empty) after "334 " (SMTP) or "+ " (POP3, IMAP), and
 * feeds each client line back in:
 *
 *     struct sasl_server x;
 *     const char *challenge;
 *     int rc = sasl_server_start(&x, "PLAIN", initial_or_NULL, &challenge, &err);
 *     while (rc == SASL_CONTINUE) {
 *         send "334 " challenge; read line;
 *         rc = sasl_server_step(&x, line, len, &challenge, &err);
 *     }
 *     SASL_DONE: x.creds.authcid / x.creds.password to authd
 *     SASL_CANCELLED: the client sent "*"          (SMTP 501)
 *     SASL_ERROR: err says why (bad base64, ...)   (SMTP 501)
 *     sasl_server_clear(&x);                        always
 *
 * An initial response (SMTP "AUTH PLAIN <b64>", IMAP SASL-IR) of "="
 * means an empty response, as RFC 4954 says. Every decoded field is at
 * most SASL_FIELD_MAX bytes; a NUL inside a field is an error. An
 * authzid other than the authcid is returned as is: the caller decides
 * (tern refuses to act on behalf of another user).
 */
#ifndef TERN_SASL_H
#define TERN_SASL_H

#include "sys.h"
#include "str.h"

#define SASL_FIELD_MAX 255 /* RFC 4616: authzid, authcid, passwd */
/* Longest decoded PLAIN message: three fields and two NULs. */
#define SASL_DECODED_MAX (3 * SASL_FIELD_MAX + 2)
/* Longest base64 text accepted for one response. */
#define SASL_ENCODED_MAX (((SASL_DECODED_MAX + 2) / 3) * 4)

enum sasl_status {
    SASL_ERROR = -1,
    SASL_DONE = 0,
    SASL_CONTINUE = 1,
    SASL_CANCELLED = 2,
};

struct sasl_creds {
    char *authzid; /* "" when the client sent none */
    char *authcid;
    char *password;
};

struct sasl_server {
    int mech; /* private: which mechanism */
    int step; /* private: LOGIN state */
    struct sasl_creds creds;
};

/*
 * Strict base64 (RFC 4648, with padding, no whitespace) into out
 * (replacing it); over max decoded bytes is an error. 0 or -1.
 */
int sasl_base64_decode(const char *in, size_t len, str_t *out, size_t max, char **error_r);
void sasl_base64_encode(const void *data, size_t len, str_t *out);

/* Decode a PLAIN message: [authzid] NUL authcid NUL passwd. 0 or -1. */
int sasl_plain_parse(const void *msg, size_t len, struct sasl_creds *c, char **error_r);
/* Wipe the password and free the fields. */
void sasl_creds_clear(struct sasl_creds *c);

/* Whether tern serves mechanism name (case-insensitive): PLAIN, LOGIN. */
bool sasl_mech_supported(const char *name);
/* The mechanisms for an EHLO/CAPABILITY line: "PLAIN LOGIN". */
const char *sasl_mech_list(void);

/*
 * Security options, Postfix's smtpd_sasl_security_options names: a
 * mechanism is left out when it offends against one of them.  tern's
 * PLAIN and LOGIN are plaintext mechanisms without mutual authentication
 * or forward secrecy (as Dovecot flags them), so noplaintext, mutual_auth
 * and forward_secrecy each leave none, while noanonymous, noactive and
 * nodictionary leave both.
 */
enum {
    SASL_SEC_NOPLAINTEXT = 1 << 0,
    SASL_SEC_NOACTIVE = 1 << 1,
    SASL_SEC_NODICTIONARY = 1 << 2,
    SASL_SEC_NOANONYMOUS = 1 << 3,
    SASL_SEC_MUTUAL_AUTH = 1 << 4,
    SASL_SEC_FORWARD_SECRECY = 1 << 5,
};
/* "noanonymous, noplaintext" (commas or white space) -> flags; -1 on an unknown word. */
int sasl_security_parse(const char *text, unsigned *flags_r, char **error_r);
/* Whether mechanism name is served and the flags leave it. */
bool sasl_mech_allowed(const char *name, unsigned flags);
/* The mechanisms the flags leave, space-separated ("" for none; static text). */
const char *sasl_mech_list_for(unsigned flags);

/*
 * Begin an exchange for mech with an optional initial response (NULL:
 * none). Returns a sasl_status; on SASL_CONTINUE *challenge_r is the
 * base64 challenge to send (static text, may be "").
 */
int sasl_server_start(struct sasl_server *x, const char *mech, const char *initial,
                      const char **challenge_r, char **error_r);
/* Feed one client response line (base64, without CRLF). */
int sasl_server_step(struct sasl_server *x, const char *response, size_t len,
                     const char **challenge_r, char **error_r);
void sasl_server_clear(struct sasl_server *x);

#endif
