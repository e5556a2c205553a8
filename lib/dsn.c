/*
 * dsn.c - RFC 3464 delivery status notifications (dsn.h).
 */
#include "dsn.h"

#include "mem.h"

#include <ctype.h>

/* Longest text taken from the original into one header field. */
#define DSN_FIELD_MAX 900

const char *dsn_action_name(enum dsn_action action)
{
    switch (action) {
    case DSN_FAILED:
        return "failed";
    case DSN_DELAYED:
        return "delayed";
    case DSN_DELIVERED:
        return "delivered";
    }
    return "failed";
}

const char *dsn_subject(enum dsn_action action)
{
    switch (action) {
    case DSN_FAILED:
        return "Undelivered Mail Returned to Sender";
    case DSN_DELAYED:
        return "Delayed Mail (still being retried)";
    case DSN_DELIVERED:
        return "Successful Mail Delivery Report";
    }
    return "Mail Delivery Status Report";
}

/* Digits [lo, hi] in a row at *p; advances *p. */
static bool digits(const char **p, int lo, int hi)
{
    int n = 0;
    while (isdigit((unsigned char)**p)) {
        (*p)++;
        n++;
    }
    return n >= lo && n <= hi;
}

bool dsn_status_valid(const char *s)
{
    if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
        return false;
    const char *p = s + 2;
    if (!digits(&p, 1, 3) || *p++ != '.' || !digits(&p, 1, 3))
        return false;
    return *p == '\0';
}

void dsn_date(str_t *out, time_t t)
{
    struct tm tm;
    char buf[64];
    localtime_r(&t, &tm);
    if (strftime(buf, sizeof(buf), "%a, %e %b %Y %H:%M:%S %z", &tm) == 0)
        buf[0] = '\0';
    const char *p = buf;
    str_appendz(out, p);
}

/* One line of untrusted text: printable, bounded. */
static void append_field(str_t *out, const char *text)
{
    str_append_printable(out, text, strlen(text), DSN_FIELD_MAX);
}

/* True when reason begins with an SMTP reply code ("550 ...", "451-..."). */
static bool smtp_reply(const char *reason)
{
    return (reason[0] == '2' || reason[0] == '4' || reason[0] == '5') &&
           isdigit((unsigned char)reason[1]) && isdigit((unsigned char)reason[2]) &&
           (reason[3] == ' ' || reason[3] == '-');
}

/*
 * "host H[A] said: REPLY (in reply to ...)": the form in which the smtp
 * client reports a remote server's answer.  Gives the host name and the
 * reply, for Remote-MTA and an smtp-typed Diagnostic-Code.
 */
static bool remote_reply(const char *reason, const char **host_r, size_t *hostlen_r,
                         const char **reply_r)
{
    if (strncmp(reason, "host ", 5) != 0)
        return false;
    const char *host = reason + 5;
    const char *said = strstr(host, " said: ");
    if (said == NULL || !smtp_reply(said + 7))
        return false;
    const char *bracket = memchr(host, '[', (size_t)(said - host));
    *host_r = host;
    *hostlen_r = (size_t)((bracket != NULL ? bracket : said) - host);
    *reply_r = said + 7;
    return *hostlen_r > 0;
}

/* A boundary that occurs nowhere in the original. */
static char *make_boundary(const struct dsn_report *rep)
{
    for (unsigned n = 0;; n++) {
        char *b =
            xasprintf("%s.%lld.%u/%s", rep->queue_id, (long long)rep->now, n, rep->reporting_mta);
        if (memmem(rep->original, rep->original_len, b, strlen(b)) == NULL)
            return b;
        free(b);
    }
}

static bool has_8bit(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return true;
    return false;
}

static void format_headers(str_t *out, const struct dsn_report *rep, const char *boundary,
                           bool eight)
{
    enum dsn_action kind = rep->rcpts[0].action;
    str_appendf(out, "From: MAILER-DAEMON@%s (Mail Delivery System)\n", rep->reporting_mta);
    str_appendz(out, "To: ");
    append_field(out, rep->to);
    str_appendf(out, "\nSubject: %s\nDate: ", dsn_subject(kind));
    dsn_date(out, rep->now);
    str_appendf(out, "\nMessage-Id: <%s.%lld.dsn@%s>\n", rep->queue_id, (long long)rep->now,
                rep->reporting_mta);
    str_appendz(out, "Auto-Submitted: auto-replied\nMIME-Version: 1.0\n");
    str_appendf(out,
                "Content-Type: multipart/report; report-type=delivery-status;\n"
                "\tboundary=\"%s\"\n",
                boundary);
    if (eight)
        str_appendz(out, "Content-Transfer-Encoding: 8bit\n");
    str_appendz(out, "\nThis is a MIME-encapsulated message.\n\n");
}

static void format_text(str_t *out, const struct dsn_report *rep, const char *boundary)
{
    enum dsn_action kind = rep->rcpts[0].action;
    str_appendf(out,
                "--%s\nContent-Description: Notification\n"
                "Content-Type: text/plain; charset=us-ascii\n\n",
                boundary);
    str_appendf(out, "This is the mail system at host %s.\n\n", rep->reporting_mta);
    if (kind == DSN_FAILED) {
        str_appendz(out, "Your message could not be delivered to one or more of its\n"
                         "recipients. This is a permanent error; the reason for each\n"
                         "recipient is below, and your message is returned with this report.\n");
    } else if (kind == DSN_DELAYED) {
        str_appendz(out, "Your message has not yet been delivered to the recipients below.\n"
                         "The mail system keeps trying");
        if (rep->retry_until != 0) {
            str_appendz(out, " until ");
            dsn_date(out, rep->retry_until);
        }
        str_appendz(out, ";\nyou do not need to send it again.\n");
    } else {
        str_appendz(out, "Your message was delivered to the recipients below, as you asked\n"
                         "with a delivery status notification request.\n");
    }
    str_appendz(out, "\n");
    for (size_t i = 0; i < rep->nrcpts; i++) {
        str_appendz(out, "<");
        append_field(out, rep->rcpts[i].address);
        str_appendz(out, ">: ");
        append_field(out, rep->rcpts[i].reason != NULL ? rep->rcpts[i].reason
                                                       : dsn_action_name(rep->rcpts[i].action));
        str_appendz(out, "\n");
    }
    str_appendz(out, "\n");
}

static void format_rcpt_status(str_t *out, const struct dsn_report *rep, const struct dsn_rcpt *r)
{
    str_appendz(out, "\nFinal-Recipient: rfc822; ");
    append_field(out, r->address);
    const char *semi = r->orcpt != NULL ? strchr(r->orcpt, ';') : NULL;
    if (semi != NULL && semi > r->orcpt && semi[1] != '\0') {
        str_appendz(out, "\nOriginal-Recipient: ");
        str_append_printable(out, r->orcpt, (size_t)(semi - r->orcpt), 32);
        str_appendz(out, "; ");
        append_field(out, semi + 1);
    }
    str_appendf(out, "\nAction: %s\nStatus: %s", dsn_action_name(r->action), r->status);
    const char *host, *reply;
    size_t hostlen;
    if (r->reason != NULL && remote_reply(r->reason, &host, &hostlen, &reply)) {
        str_appendz(out, "\nRemote-MTA: dns; ");
        str_append_printable(out, host, hostlen, 255);
        str_appendz(out, "\nDiagnostic-Code: smtp; ");
        append_field(out, reply);
    } else if (r->reason != NULL && r->reason[0] != '\0') {
        str_appendz(out, smtp_reply(r->reason) ? "\nDiagnostic-Code: smtp; "
                                               : "\nDiagnostic-Code: X-Tern; ");
        append_field(out, r->reason);
    }
    if (r->action == DSN_DELAYED && rep->retry_until != 0) {
        str_appendz(out, "\nWill-Retry-Until: ");
        dsn_date(out, rep->retry_until);
    }
    str_appendz(out, "\n");
}

static void format_status(str_t *out, const struct dsn_report *rep, const char *boundary)
{
    str_appendf(out,
                "--%s\nContent-Description: Delivery report\n"
                "Content-Type: message/delivery-status\n\n",
                boundary);
    str_appendf(out, "Reporting-MTA: dns; %s\nX-Tern-Queue-ID: %s\n", rep->reporting_mta,
                rep->queue_id);
    if (rep->envid != NULL && rep->envid[0] != '\0') {
        str_appendz(out, "Original-Envelope-Id: ");
        append_field(out, rep->envid);
        str_appendz(out, "\n");
    }
    str_appendz(out, "X-Tern-Sender: rfc822; ");
    append_field(out, rep->sender);
    str_appendz(out, "\nArrival-Date: ");
    dsn_date(out, rep->arrival);
    str_appendz(out, "\n");
    for (size_t i = 0; i < rep->nrcpts; i++)
        format_rcpt_status(out, rep, &rep->rcpts[i]);
    str_appendz(out, "\n");
}

static void format_original(str_t *out, const struct dsn_report *rep, const char *boundary,
                            bool eight)
{
    str_appendf(out, "--%s\n", boundary);
    if (rep->headers_only)
        str_appendz(out, "Content-Description: Undelivered Message Headers\n"
                         "Content-Type: text/rfc822-headers\n");
    else
        str_appendz(out, "Content-Description: Undelivered Message\n"
                         "Content-Type: message/rfc822\n");
    if (eight)
        str_appendz(out, "Content-Transfer-Encoding: 8bit\n");
    str_appendz(out, "\n");
    size_t n = rep->original_len;
    /* A header section ends with its empty line; the report adds its own. */
    if (rep->headers_only)
        while (n >= 2 && rep->original[n - 1] == '\n' && rep->original[n - 2] == '\n')
            n--;
    str_append(out, rep->original, n);
    if (n > 0 && rep->original[n - 1] != '\n')
        str_appendz(out, "\n");
    str_appendf(out, "\n--%s--\n", boundary);
}

static int check_report(const struct dsn_report *rep, char **error_r)
{
    const char *missing = rep->nrcpts == 0 || rep->rcpts == NULL           ? "recipients"
                          : rep->reporting_mta == NULL                     ? "reporting_mta"
                          : rep->queue_id == NULL                          ? "queue_id"
                          : rep->sender == NULL                            ? "sender"
                          : rep->to == NULL                                ? "to"
                          : rep->original == NULL && rep->original_len > 0 ? "original"
                                                                           : NULL;
    for (size_t i = 0; missing == NULL && i < rep->nrcpts; i++)
        if (rep->rcpts[i].address == NULL || !dsn_status_valid(rep->rcpts[i].status))
            missing = "recipient address or valid status";
    if (missing != NULL) {
        if (error_r != NULL)
            *error_r = xasprintf("delivery status report without %s", missing);
        return -1;
    }
    return 0;
}

int dsn_format(str_t *out, const struct dsn_report *rep, char **error_r)
{
    if (check_report(rep, error_r) < 0)
        return -1;
    struct dsn_report copy = *rep;
    if (copy.original == NULL)
        copy.original = "";
    str_t *msg = str_new(size_add(copy.original_len, 4096));
    char *boundary = make_boundary(&copy);
    bool eight = has_8bit(copy.original, copy.original_len);
    format_headers(msg, &copy, boundary, eight);
    format_text(msg, &copy, boundary);
    format_status(msg, &copy, boundary);
    format_original(msg, &copy, boundary, eight);
    free(boundary);
    int rc = str_append(out, str_c(msg), str_len(msg));
    str_free(&msg);
    if (rc < 0 && error_r != NULL)
        *error_r = xstrdup("delivery status report too large");
    return rc;
}
