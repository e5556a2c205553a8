/*
 * dsn.h - delivery status notifications (RFC 3464): the bounce, delay
 * and success reports the queue manager returns to a sender.
 *
 * dsn_format() writes a whole message (header and body, "\n" line ends,
 * ready for cleanup) of type multipart/report; report-type=delivery-status
 * with three parts:
 *   1. text/plain: a human-readable explanation and, per recipient, what
 *      happened;
 *   2. message/delivery-status: the per-message fields (Reporting-MTA,
 *      Original-Envelope-Id, Arrival-Date) and, per recipient,
 *      Final-Recipient, Original-Recipient (from ORCPT), Action, Status,
 *      Diagnostic-Code (when there is a reason) and Will-Retry-Until (for
 *      delays);
 *   3. the returned message: message/rfc822 with the whole original, or
 *      text/rfc822-headers with only its header section.
 * Every field value taken from the original (addresses, reasons) is made
 * printable and kept to one line, so a hostile reason cannot inject
 * header fields or MIME boundaries.
 */
#ifndef TERN_DSN_H
#define TERN_DSN_H

#include "sys.h"
#include "str.h"

#include <time.h>

enum dsn_action { DSN_FAILED, DSN_DELAYED, DSN_DELIVERED };

struct dsn_rcpt {
    const char *address; /* the recipient as delivered to (required) */
    const char *orcpt;   /* DSN ORCPT "type;address", or NULL/"" */
    const char *status;  /* enhanced status code "X.Y.Z" (required) */
    const char *reason;  /* human-readable diagnostic, or NULL */
    enum dsn_action action;
};

struct dsn_report {
    const char *reporting_mta; /* $myhostname */
    const char *queue_id;      /* the original message's queue ID */
    const char *sender;        /* its envelope sender ("" for <>) */
    const char *to;            /* who gets this report (To: header) */
    const char *envid;         /* DSN ENVID, or NULL/"" */
    time_t arrival;            /* when the original arrived */
    time_t now;                /* Date: of the report */
    time_t retry_until;        /* delays only: when we give up (0: omit) */
    const struct dsn_rcpt *rcpts;
    size_t nrcpts;        /* at least 1 */
    const char *original; /* original content (header and body) */
    size_t original_len;
    bool headers_only; /* original holds only the header section */
};

/*
 * Append the report message to out.  Returns 0, or -1 (with *error_r
 * malloc'ed) when the report is unusable: no recipients, a missing
 * required field, or out has a maximum it would exceed.
 */
int dsn_format(str_t *out, const struct dsn_report *rep, char **error_r);

/* The Subject: a report of this kind gets. */
const char *dsn_subject(enum dsn_action action);
/* "failed", "delayed", "delivered". */
const char *dsn_action_name(enum dsn_action action);
/* True when s is an enhanced status code X.Y.Z (RFC 3463 syntax). */
bool dsn_status_valid(const char *s);
/* RFC 5322 date-time for t in local time: "Mon, 2 Jan 2006 15:04:05 +0000". */
void dsn_date(str_t *out, time_t t);

#endif
