/*
 * cleanup_header.c - what cleanup does with each logical header while the
 * header section streams in: count Received: (hopcount_limit), apply
 * header_checks, take recipients for sendmail -t, note Message-ID, Date
 * and From; at the end of the section add the missing ones for local
 * submissions and create the queue file.
 */
#include "sys.h"
#include "cleanup_state.h"

#include "cleanup_proto.h"
#include "log.h"
#include "mem.h"
#include "rfc822_date.h"

#include <ctype.h>

#define CLEANUP_MSGID_LOG_MAX 200 /* bytes of Message-ID kept for the log */

/* Printable copy of a field for log lines, bounded. */
static char *field_printable(const char *data, size_t len)
{
    str_t *s = str_new(len < 200 ? len : 200);
    if (len > 0 && data[len - 1] == '\n')
        len--;
    str_append_printable(s, data, len, 200);
    return str_steal(&s);
}

static void log_action(struct cleanup_state *st, const char *what, const char *field,
                       const char *text)
{
    char *ctx = cleanup_log_context(st);
    msg_info("%s: %s: header %s %s%s%s", cleanup_log_id(st), what, field, ctx, text[0] ? ": " : "",
             text);
    free(ctx);
}

/* "5.7.1 text" gives its own code; else def. */
static const char *action_dsn(const char *text, char cls, const char *def, size_t *skip_r)
{
    *skip_r = 0;
    if (text[0] == cls && text[1] == '.' && isdigit((unsigned char)text[2])) {
        size_t n = strspn(text, "0123456789.");
        if (n >= 5 && n < 12 && (text[n] == ' ' || text[n] == '\0')) {
            *skip_r = n + (text[n] == ' ');
            return NULL;
        }
    }
    return def;
}

/* Printable copy of an action's text, bounded. */
static char *text_printable(const char *text)
{
    str_t *s = str_new(64);
    str_append_printable(s, text, strlen(text), 300);
    return str_steal(&s);
}

/*
 * Apply one header_checks result.  Returns 1 to drop the header, 0 to
 * keep it, -1 when the message is finished (reject, discard).
 */
static int apply_action(struct cleanup_state *st, const char *result, const char *field,
                        str_t *prepend)
{
    size_t wl = strcspn(result, " \t");
    const char *text = result + wl + strspn(result + wl, " \t");
    char *ptext = text_printable(text);
    int rc = 0;
    if (wl == 6 && strncasecmp(result, "REJECT", 6) == 0) {
        size_t skip;
        const char *dsn = action_dsn(text, '5', "5.7.1", &skip);
        char *code = dsn ? xstrdup(dsn) : xstrndup(text, skip ? skip - 1 : 0);
        const char *why = text[skip] ? ptext + skip : "message content rejected";
        log_action(st, "reject", field, why);
        cleanup_fail(st, CLEANUP_STAT_PERM, code, "%s", why);
        st->logged = true;
        free(code);
        rc = -1;
    } else if (wl == 7 && strncasecmp(result, "DISCARD", 7) == 0) {
        st->discard = true;
        st->why = xasprintf("header %s%s%s", field, ptext[0] ? ": " : "", ptext);
        rc = -1;
    } else if (wl == 4 && strncasecmp(result, "HOLD", 4) == 0) {
        if (!st->hold)
            st->why = xasprintf("header %s%s%s", field, ptext[0] ? ": " : "", ptext);
        st->hold = true;
    } else if (wl == 6 && strncasecmp(result, "IGNORE", 6) == 0) {
        rc = 1;
    } else if (wl == 4 && strncasecmp(result, "WARN", 4) == 0) {
        log_action(st, "warning", field, ptext);
    } else if (wl == 7 && strncasecmp(result, "PREPEND", 7) == 0 &&
               header_name_len(text, strlen(text)) > 0) {
        str_appendf(prepend, "%s\n", ptext);
    } else if (wl == 7 && strncasecmp(result, "REPLACE", 7) == 0 &&
               header_name_len(text, strlen(text)) > 0) {
        str_appendf(prepend, "%s\n", ptext);
        rc = 1;
    } else if (!((wl == 2 && strncasecmp(result, "OK", 2) == 0) ||
                 (wl == 5 && strncasecmp(result, "DUNNO", 5) == 0))) {
        msg_warn("%s: header_checks: unsupported action \"%.*s\" ignored", cleanup_log_id(st),
                 (int)(wl < 40 ? wl : 40), result);
    }
    free(ptext);
    return rc;
}

/* header_checks on one unfolded field.  As apply_action; -1 also on a
 * table error (status 4). */
static int run_checks(struct cleanup_state *st, const char *data, size_t len, str_t *prepend)
{
    if (st->cf->header_checks[0] == NULL)
        return 0;
    str_t *key = str_new(len);
    header_unfold(key, data, len);
    int rc = 0;
    for (dict_t **d = st->cf->header_checks; *d != NULL; d++) {
        const char *result;
        int found = dict_lookup(*d, str_c(key), &result);
        if (found < 0) {
            cleanup_fail(st, CLEANUP_STAT_TEMP, "4.3.0", "header_checks lookup error");
            rc = -1;
            break;
        }
        if (found > 0) {
            char *field = field_printable(str_c(key), str_len(key));
            rc = apply_action(st, result, field, prepend);
            free(field);
            break;
        }
    }
    str_free(&key);
    return rc;
}

static int take_rcpt(const char *addr, size_t len, void *ctx)
{
    struct cleanup_state *st = ctx;
    if (cleanup_add_rcpt(st, addr, len, NULL, 0) < 0) {
        cleanup_fail(st, CLEANUP_STAT_PERM, "5.5.3", "too many recipients");
        return -1;
    }
    return 0;
}

/* Note what the field is; 1 to drop it (Bcc with sendmail -t), -1 to stop. */
static int inspect(struct cleanup_state *st, const char *data, size_t len)
{
    const char *name, *value;
    size_t nl, vl;
    if (header_split(data, len, &name, &nl, &value, &vl) < 0)
        return 0;
    if (header_name_is(data, len, "received") && ++st->hops > st->cf->hopcount_limit) {
        cleanup_fail(st, CLEANUP_STAT_PERM, "5.4.6", "too many hops (mail forwarding loop)");
        return -1;
    }
    if (header_name_is(data, len, "message-id") || header_name_is(data, len, "resent-message-id")) {
        st->seen_msgid = true;
        if (st->message_id == NULL && header_name_is(data, len, "message-id"))
            st->message_id =
                field_printable(value, vl < CLEANUP_MSGID_LOG_MAX ? vl : CLEANUP_MSGID_LOG_MAX);
    }
    st->seen_date |= header_name_is(data, len, "date") || header_name_is(data, len, "resent-date");
    st->seen_from |= header_name_is(data, len, "from") || header_name_is(data, len, "resent-from");
    bool bcc = header_name_is(data, len, "bcc");
    if (st->extract &&
        (bcc || header_name_is(data, len, "to") || header_name_is(data, len, "cc"))) {
        if (header_addr_list(value, vl, take_rcpt, st) < 0)
            return -1;
    }
    return st->extract && bcc ? 1 : 0;
}

static int on_field(struct cleanup_state *st, const char *data, size_t len)
{
    str_t *prepend = str_new(0);
    int drop = inspect(st, data, len);
    if (drop >= 0) {
        int c = run_checks(st, data, len, prepend);
        drop = c < 0 ? -1 : (drop || c);
    }
    int rc = drop < 0 ? -1 : 0;
    if (rc == 0 && (str_append(st->headers, str_c(prepend), str_len(prepend)) < 0 ||
                    (!drop && str_append(st->headers, data, len) < 0))) {
        cleanup_fail(st, CLEANUP_STAT_PERM, "5.3.4", "message header too large");
        rc = -1;
    }
    if (rc == 0 && !drop && len > 0 && data[len - 1] != '\n')
        str_appendc(st->headers, '\n'); /* a last field without its newline */
    str_free(&prepend);
    return rc;
}

/* Message-ID, Date and From for a local submission that lacks them. */
static void add_missing(struct cleanup_state *st)
{
    if (!st->local_submission)
        return;
    if (!st->seen_msgid) {
        struct tm tm;
        gmtime_r(&st->arrival.tv_sec, &tm);
        str_appendf(st->headers, "Message-ID: <%04d%02d%02d%02d%02d%02d.%s@%s>\n",
                    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                    st->id, st->cf->myhostname);
        free(st->message_id);
        st->message_id =
            xasprintf("<%04d%02d%02d%02d%02d%02d.%s@%s>", tm.tm_year + 1900, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, st->id, st->cf->myhostname);
    }
    if (!st->seen_date) {
        str_appendz(st->headers, "Date: ");
        rfc822_date(st->headers, st->arrival.tv_sec);
        str_appendc(st->headers, '\n');
    }
    if (!st->seen_from)
        str_appendf(st->headers, "From: %s\n", st->sender[0] ? st->sender : "MAILER-DAEMON");
}

/* The header section is complete: decide and create the queue file. */
static int on_end(struct cleanup_state *st)
{
    if (st->discard)
        return -1;
    if (st->nrcpt == 0) {
        cleanup_fail(st, CLEANUP_STAT_PERM, "5.1.3",
                     st->extract ? "no recipient addresses found in message header"
                                 : "no recipients");
        return -1;
    }
    if (cleanup_valias(st) < 0 || cleanup_out_create(st) < 0)
        return -1;
    add_missing(st);
    if (cleanup_out_content(st, str_c(st->headers), str_len(st->headers)) < 0)
        return -1;
    return cleanup_out_body_marker(st);
}

int cleanup_header_event(enum header_event ev, const char *data, size_t len, void *ctx)
{
    struct cleanup_state *st = ctx;
    switch (ev) {
    case HEADER_EV_FIELD:
        return on_field(st, data, len);
    case HEADER_EV_END:
        if (header_reader_end(st->reader) == HEADER_END_OVERSIZE)
            msg_info("%s: header section exceeds header_size_limit: rest kept as body",
                     cleanup_log_id(st));
        return on_end(st);
    case HEADER_EV_BODY:
        return cleanup_out_content(st, data, len);
    }
    return -1;
}
