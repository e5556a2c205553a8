/*
 * smtp_access.h - the results of access(5) tables (check_client_access,
 * check_helo_access, check_sender_access, check_recipient_access), parsed
 * into an action the SMTP server's restriction code acts on.
 *
 * Results, as in Postfix's access(5):
 *   OK, PERMIT, or an all-numerical value      permit
 *   REJECT [text]                              554 5.7.1 (text or "Access denied")
 *   DEFER [text]                               450 4.7.1
 *   4NN [X.Y.Z] text, 5NN [X.Y.Z] text         that reply (dsn 4.7.1 / 5.7.1
 *                                              unless given)
 *   DUNNO                                      no decision; go on
 *   anything else                              a list of restriction names
 *                                              (e.g. "reject_non_fqdn_sender"),
 *                                              evaluated by the caller
 */
#ifndef TERN_SMTP_ACCESS_H
#define TERN_SMTP_ACCESS_H

#include "sys.h"

enum smtp_access_action {
    SMTP_ACCESS_DUNNO,
    SMTP_ACCESS_PERMIT,
    SMTP_ACCESS_REJECT,       /* code/dsn/text say how (4xx or 5xx) */
    SMTP_ACCESS_RESTRICTIONS, /* text holds restriction names */
};

#define SMTP_ACCESS_TEXT_MAX 512

struct smtp_access_result {
    enum smtp_access_action action;
    int code;                        /* REJECT: 4xx or 5xx */
    char dsn[16];                    /* REJECT: "5.7.1" */
    char text[SMTP_ACCESS_TEXT_MAX]; /* REJECT: reason; RESTRICTIONS: the names */
};

/*
 * Parse a table value.  Returns 0, or -1 with a static reason in *error_r
 * for a malformed value (an empty value, a code outside 4xx/5xx, a dsn
 * that disagrees with the code's class, text too long or with control
 * characters).
 */
int smtp_access_parse(const char *value, struct smtp_access_result *r, const char **error_r);

/* Whether s (len bytes) is an enhanced status code "C.SSS.DDD" (C 2, 4, 5). */
bool smtp_dsn_valid(const char *s, size_t len);

#endif
