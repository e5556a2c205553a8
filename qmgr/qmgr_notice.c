/*
 * qmgr_notice.c - delivery status notices (bounces, delay warnings,
 * success reports) formatted by lib/dsn.c and queued through cleanup
 * with the null sender.
 *
 * Loop prevention: a notice about mail from <> is never returned to
 * <>; a failure goes to 2bounce_notice_recipient with the envelope
 * sender double-bounce@$myhostname, and a failure of mail from that
 * sender is dropped with a log line.
 */
#include "sys.h"

#include <strings.h>

#include "cleanup_client.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "qmgr.h"
#include "str.h"

#define QMGR_DOUBLE_BOUNCE "double-bounce"

static bool is_double_bounce(const char *sender)
{
    size_t n = strlen(QMGR_DOUBLE_BOUNCE);
    return strncasecmp(sender, QMGR_DOUBLE_BOUNCE, n) == 0 &&
           (sender[n] == '@' || sender[n] == '\0');
}

/* Read the part of the original a notice returns: all, or its header. */
static str_t *read_original(qfile_t *qf, bool *headers_only_r)
{
    uint64_t limit = (uint64_t)cfg_int("bounce_size_limit");
    const char *ret = qfile_attr(qf, QFILE_ATTR_DSN_RET);
    bool hdrs = (ret != NULL && strcasecmp(ret, "HDRS") == 0) || qfile_content_size(qf) > limit;
    uint64_t want = hdrs ? qfile_header_size(qf) : qfile_content_size(qf);
    if (want > limit)
        want = limit;
    str_t *s = str_new((size_t)want + 1);
    char buf[8192], *error = NULL;
    qfile_content_rewind(qf);
    while (str_len(s) < want) {
        size_t n = want - str_len(s) < sizeof(buf) ? (size_t)(want - str_len(s)) : sizeof(buf);
        ssize_t got = qfile_content_read(qf, buf, n, &error);
        if (got <= 0)
            break;
        str_append(s, buf, (size_t)got);
    }
    if (error != NULL) {
        msg_warn("%s: reading content for a notice: %s", qfile_name(qf), error);
        free(error);
    }
    if (hdrs) { /* cut a truncated header section at its last whole line */
        const char *nl = memrchr(str_c(s), '\n', str_len(s));
        str_truncate(s, nl != NULL ? (size_t)(nl - str_c(s)) + 1 : 0);
    }
    *headers_only_r = hdrs;
    return s;
}

/* Hand the formatted notice to cleanup; 0 queued, -1 not. */
static int submit(const char *id, const char *env_sender, const char *to, const str_t *msg)
{
    struct cleanup_rcpt rcpt = {.address = to, .notify = "NEVER"};
    struct cleanup_envelope env = {
        .origin = "bounce",
        .sender = env_sender,
        .protocol = "LOCAL",
        .rcpts = &rcpt,
        .rcpt_count = 1,
    };
    char *error = NULL;
    cleanup_t *h = cleanup_open(&env, &error);
    if (h == NULL) {
        msg_warn("%s: cannot queue a delivery status notice: %s", id, error);
        free(error);
        return -1;
    }
    cleanup_write(h, str_c(msg), str_len(msg));
    struct cleanup_result res;
    cleanup_finish(&h, &res);
    if (res.status != CLEANUP_STAT_OK) {
        msg_warn("%s: cleanup refused a delivery status notice: %s %s", id, res.dsn, res.reason);
        return -1;
    }
    msg_info("%s: sender delivery status notification: %s", id, res.queue_id);
    return 0;
}

int qmgr_notice_send(qfile_t *qf, const char *id, const struct dsn_rcpt *rcpts, size_t n,
                     time_t retry_until)
{
    const char *sender = qfile_sender(qf);
    bool failed = rcpts[0].action == DSN_FAILED;
    const char *to = sender, *env_sender = "";
    char *dbl = NULL;
    if (sender[0] == '\0' || is_double_bounce(sender)) {
        to = cfg_str("2bounce_notice_recipient");
        if (!failed)
            return 0;
        if (is_double_bounce(sender) || to[0] == '\0') {
            msg_info("%s: undeliverable notice from <%s> discarded", id, sender);
            return 0;
        }
        env_sender = dbl = xasprintf("%s@%s", QMGR_DOUBLE_BOUNCE, cfg_str("myhostname"));
    }
    bool hdrs;
    str_t *orig = read_original(qf, &hdrs);
    struct timeval tv;
    qfile_arrival(qf, &tv);
    struct dsn_report rep = {
        .reporting_mta = cfg_str("myhostname"),
        .queue_id = id,
        .sender = sender,
        .to = to,
        .envid = qfile_attr(qf, QFILE_ATTR_DSN_ENVID),
        .arrival = tv.tv_sec,
        .now = time(NULL),
        .retry_until = retry_until,
        .rcpts = rcpts,
        .nrcpts = n,
        .original = str_c(orig),
        .original_len = str_len(orig),
        .headers_only = hdrs,
    };
    str_t *msg = str_new(str_len(orig) + 4096);
    char *error = NULL;
    int rc = dsn_format(msg, &rep, &error);
    if (rc < 0) {
        msg_warn("%s: %s", id, error);
        free(error);
    } else {
        rc = submit(id, env_sender, to, msg);
    }
    str_free(&msg);
    str_free(&orig);
    free(dbl);
    return rc;
}
