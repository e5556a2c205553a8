/*
 * addr.h - mail addresses: parsing SMTP MAIL FROM / RCPT TO arguments
 * (RFC 5321 4.1.2, 3.3), ESMTP parameters (RFC 1870, 6152, 3030, 3461,
 * 4954, 6531), and the small helpers that smtpd, cleanup, qmgr and local
 * delivery share: splitting, quoting, address extensions, routing
 * detection for anti-relay policy, FQDN checks and domain list matching.
 *
 * Everything here parses untrusted network input: every function takes
 * (pointer, length) where input comes from the wire and never reads past
 * it (the input need not be NUL-terminated), every element has a bound,
 * and nothing is truncated silently.  Errors come back as -1 plus a
 * malloc'ed, printable, human-readable reason in *error_r (the caller
 * frees it; error_r may be NULL), and, where smtpd must answer, an SMTP
 * reply code and enhanced status code in the result structure.
 *
 * Two forms of an address:
 *  - external (canonical) form, as stored in the queue and sent on the
 *    wire: local@domain, the local part quoted only when it is not a
 *    Dot-string ("a b"@example.com, but "x"@y becomes x@y);
 *  - internal form of the local part: quotes and backslashes removed, what
 *    a delivery agent looks up (user names, aliases, extensions).
 */
#ifndef TERN_ADDR_H
#define TERN_ADDR_H

#include "sys.h"
#include "str.h"

/* RFC 5321 4.5.3.1 size limits, in octets. */
#define ADDR_LOCAL_MAX 64   /* local part, as written */
#define ADDR_DOMAIN_MAX 255 /* domain */
#define ADDR_LABEL_MAX 63   /* one label of a domain */
#define ADDR_PATH_MAX 256   /* a path, including "<" ">" and any route */

/* Flags for addr_parse_path() and addr_esmtp_params_parse(). */
#define ADDR_F_MAIL 0x01     /* a reverse-path (MAIL FROM): <> allowed; else RCPT TO */
#define ADDR_F_SMTPUTF8 0x02 /* the client gave SMTPUTF8: UTF-8 allowed, validated */
#define ADDR_F_STRICT 0x04   /* strict_rfc821_envelopes: no leniency at all */

/*
 * Leniency without ADDR_F_STRICT (what Postfix accepts by default):
 * spaces after the colon ("MAIL FROM: <x>"), a missing <> around the
 * address ("MAIL FROM:x@y"), several spaces between parameters and at the
 * end, and an address without a domain ("<user>", left to
 * reject_non_fqdn_* and myorigin).  With ADDR_F_STRICT the only
 * domain-less address is RCPT TO:<postmaster> (RFC 5321 4.1.1.3).
 */

struct addr_path {
    char *addr;         /* canonical external form; "" for the null sender */
    char *local;        /* internal (unquoted) local part; "" for the null sender */
    char *domain;       /* domain as written, literal with its [brackets]; "" if none */
    bool null_sender;   /* the path was <> (MAIL only) */
    bool source_route;  /* an "@a,@b:" route was present and has been stripped */
    bool quoted;        /* the canonical local part needed quoting */
    bool utf8;          /* the address holds non-ASCII (SMTPUTF8) characters */
    bool literal;       /* the domain is an address literal */
    const char *params; /* ESMTP parameter text after the path (points into arg) */
    size_t params_len;  /* its length; 0 when there are none */
    int reply;          /* on error: SMTP reply code (501, 553) */
    const char *dsn;    /* on error: enhanced status code ("5.1.3") */
};

/*
 * Parse the argument of MAIL FROM: / RCPT TO:, i.e. the text after the
 * colon: "<path> [SP esmtp-param *(SP esmtp-param)]".  On success fills
 * *out (free with addr_path_free) and returns 0; on error returns -1 with
 * out->reply, out->dsn and *error_r set and nothing to free.
 */
int addr_parse_path(const char *arg, size_t len, int flags, struct addr_path *out, char **error_r);
void addr_path_free(struct addr_path *p);

/* Validation of single elements; (s, len) need not be NUL-terminated. */
/* A hostname (LDH labels, U-labels with ADDR_F_SMTPUTF8) or [literal]. */
int addr_domain_valid(const char *s, size_t len, int flags, char **error_r);
/* [1.2.3.4] or [IPv6:...], checked with inet_pton. */
int addr_literal_valid(const char *s, size_t len, char **error_r);
/* Whether s is a Dot-string (ASCII atext, or UTF-8 too when utf8). */
bool addr_is_dot_string(const char *s, size_t len, bool utf8);
/* Length (2..4) of the well-formed UTF-8 sequence at s, or 0. */
size_t addr_utf8_seq(const unsigned char *s, size_t avail);
/* Whether all of s is well-formed UTF-8 (ASCII included). */
bool addr_utf8_valid(const char *s, size_t len);

/*
 * Quoting (RFC 5321 Quoted-string).  addr_quote_local appends the
 * external form of an internal local part: as is when it is a Dot-string,
 * else in quotes with '"' and '\' escaped; -1 if it holds characters a
 * Quoted-string cannot carry (controls, NUL, or 8-bit unless utf8).
 * addr_unquote_local appends the internal form of an external local part;
 * -1 if it is neither a valid Dot-string nor a valid Quoted-string.
 */
int addr_quote_local(str_t *dst, const char *local, size_t len, bool utf8);
int addr_unquote_local(str_t *dst, const char *local, size_t len);

/*
 * Split a canonical address at its last '@' (a domain never holds one,
 * and an '@' followed by a '"' is inside a quoted local part) into malloc'ed copies of the local
 * part (still in external form) and the domain ("" when there is no '@').
 */
void addr_split(const char *addr, char **local_r, char **domain_r);
/* Lower-case the domain (after the last '@') in place; the local part is kept. */
void addr_domain_lower(char *addr);

/*
 * recipient_delimiter: split an internal local part at the first of the
 * delimiter characters delims (Postfix allows a set, e.g. "+-"), so
 * "user+tag" gives "user" and "tag".  No split when the delimiter would
 * be the first character, or for the "owner-list" and "list-request"
 * forms when the delimiter found is '-'.  Returns true when split; then
 * *user_r and *ext_r are malloc'ed (and *delim_r, if not NULL, is the
 * character); else *user_r is a copy of local and *ext_r is NULL.
 */
bool addr_strip_extension(const char *local, const char *delims, char **user_r, char **ext_r,
                          char *delim_r);

/* Routing found in an address (allow_untrusted_routing, anti-relay). */
#define ADDR_ROUTE_PERCENT 0x01 /* user%other@domain */
#define ADDR_ROUTE_BANG 0x02    /* other!user@domain */
#define ADDR_ROUTE_AT 0x04      /* "user@other"@domain */
#define ADDR_ROUTE_SOURCE 0x08  /* <@route:user@domain> (only from a parse) */
/* Which routing characters the internal local part holds (ADDR_ROUTE_*). */
unsigned addr_local_routing(const char *local, size_t len);
/* All routing in a parsed path, the source route included. */
unsigned addr_path_routing(const struct addr_path *p);

/*
 * reject_non_fqdn_*: true when domain is a valid hostname of at least two
 * labels, or a valid address literal.
 */
bool addr_is_fqdn(const char *domain);

/*
 * Domain list matching (mydestination, relay_domains, ...), ASCII
 * case-insensitive.  A pattern matches the same domain; ".example.com"
 * matches every subdomain of example.com (not example.com itself); with
 * parent_matches_sub (Postfix's parent_domain_matches_subdomains),
 * "example.com" also matches its subdomains.
 */
bool addr_domain_match(const char *domain, const char *pattern, bool parent_matches_sub);
/*
 * Match against a list of patterns separated by commas and/or white
 * space; the first matching pattern decides, and "!pattern" makes that a
 * non-match.  Entries that are tables ("type:name") or files ("/path")
 * are for the lookup layer and are skipped here.
 */
bool addr_domain_match_list(const char *domain, const char *list, bool parent_matches_sub);

/* ---- ESMTP parameters ------------------------------------------------- */

#define ADDR_PARAMS_MAX 16       /* parameters per command */
#define ADDR_PARAM_NAME_MAX 32   /* octets in a keyword */
#define ADDR_PARAM_VALUE_MAX 600 /* octets in a value (ORCPT is 500 + type) */

struct addr_param {
    char *name;  /* keyword as given */
    char *value; /* NULL when there was no "=value" */
};

struct addr_params {
    struct addr_param *v;
    size_t n;
    int reply;       /* on error: 501, 555 */
    const char *dsn; /* on error: "5.5.4" */
};

/*
 * Parse "esmtp-param *(SP esmtp-param)" (len may be 0).  Keywords are
 * ALPHA/DIGIT then ALPHA/DIGIT/'-'; values printable ASCII without '=' or
 * SP (UTF-8 too with ADDR_F_SMTPUTF8); a keyword given twice (in any
 * case) is an error.  Without ADDR_F_STRICT, runs of spaces are allowed.
 */
int addr_esmtp_params_parse(const char *s, size_t len, int flags, struct addr_params *out,
                            char **error_r);
void addr_esmtp_params_free(struct addr_params *p);
/* Find a parameter by keyword (case-insensitive), or NULL. */
const struct addr_param *addr_esmtp_param_find(const struct addr_params *p, const char *name);

/* xtext (RFC 3461 4): decode appends, -1 on malformed input or %x00. */
int addr_xtext_decode(str_t *dst, const char *s, size_t len);
void addr_xtext_encode(str_t *dst, const char *s, size_t len);

/* Value checks for single parameters (NULL value = no "=value"). */
int addr_param_size(const char *value, uint64_t *size_r, char **error_r);

enum addr_body { ADDR_BODY_NONE, ADDR_BODY_7BIT, ADDR_BODY_8BITMIME, ADDR_BODY_BINARYMIME };
int addr_param_body(const char *value, enum addr_body *body_r, char **error_r);

enum addr_ret { ADDR_RET_NONE, ADDR_RET_FULL, ADDR_RET_HDRS };
int addr_param_ret(const char *value, enum addr_ret *ret_r, char **error_r);

#define ADDR_NOTIFY_NEVER 0x01
#define ADDR_NOTIFY_SUCCESS 0x02
#define ADDR_NOTIFY_FAILURE 0x04
#define ADDR_NOTIFY_DELAY 0x08
int addr_param_notify(const char *value, unsigned *notify_r, char **error_r);

#define ADDR_ENVID_MAX 100 /* RFC 3461 4.4 */
#define ADDR_ORCPT_MAX 500 /* RFC 3461 4.2 */
/* ENVID=xtext: *envid_r malloc'ed, decoded. */
int addr_param_envid(const char *value, char **envid_r, char **error_r);
/* ORCPT=addr-type;xtext: type and decoded address, both malloc'ed. */
int addr_param_orcpt(const char *value, char **type_r, char **addr_r, char **error_r);
/* AUTH=xtext or <> (RFC 4954 5): decoded, "<>" stays "<>". */
int addr_param_auth(const char *value, char **mailbox_r, char **error_r);

/* Extensions smtpd advertised: parameters of others are refused (555). */
#define ADDR_EXT_SIZE 0x01
#define ADDR_EXT_8BITMIME 0x02
#define ADDR_EXT_BINARYMIME 0x04
#define ADDR_EXT_DSN 0x08
#define ADDR_EXT_SMTPUTF8 0x10
#define ADDR_EXT_AUTH 0x20

struct addr_mail_opts {
    bool size_set;
    uint64_t size;       /* SIZE=, when size_set */
    enum addr_body body; /* BODY=, or ADDR_BODY_NONE */
    enum addr_ret ret;   /* RET=, or ADDR_RET_NONE */
    char *envid;         /* ENVID= decoded, or NULL */
    bool smtputf8;       /* SMTPUTF8 given */
    char *auth;          /* AUTH= decoded ("<>" for unknown), or NULL */
    int reply;           /* on error: 501, 555 */
    const char *dsn;
};

struct addr_rcpt_opts {
    unsigned notify;  /* ADDR_NOTIFY_* bits, 0 when not given */
    char *orcpt_type; /* ORCPT= address type ("rfc822"), or NULL */
    char *orcpt;      /* ORCPT= decoded address, or NULL */
    int reply;
    const char *dsn;
};

/*
 * Check parsed MAIL / RCPT parameters against the advertised extensions
 * (ADDR_EXT_*) and decode them.  Unknown or unadvertised keywords give 555
 * 5.5.4, bad values 501 5.5.4.  On error nothing is left to free.
 */
int addr_mail_opts_get(const struct addr_params *p, unsigned ext, struct addr_mail_opts *out,
                       char **error_r);
void addr_mail_opts_free(struct addr_mail_opts *o);
int addr_rcpt_opts_get(const struct addr_params *p, unsigned ext, struct addr_rcpt_opts *out,
                       char **error_r);
void addr_rcpt_opts_free(struct addr_rcpt_opts *o);

/*
 * Whole-command helpers for smtpd: path, parameters and their checks in
 * one call, with one reply code / enhanced status / reason on error (and
 * nothing to free then).  For MAIL, SMTPUTF8 arrives on the same line, so
 * the path may hold UTF-8 when ext offers ADDR_EXT_SMTPUTF8 and the
 * command carries the SMTPUTF8 keyword (else 553 5.6.7); ADDR_F_MAIL is
 * implied.  For RCPT, flags carry ADDR_F_SMTPUTF8 when the transaction's
 * MAIL had it.
 */
int addr_mail_parse(const char *arg, size_t len, int flags, unsigned ext, struct addr_path *path,
                    struct addr_mail_opts *opts, int *reply_r, const char **dsn_r, char **error_r);
int addr_rcpt_parse(const char *arg, size_t len, int flags, unsigned ext, struct addr_path *path,
                    struct addr_rcpt_opts *opts, int *reply_r, const char **dsn_r, char **error_r);

#endif
