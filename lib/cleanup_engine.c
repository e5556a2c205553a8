/*
 * cleanup_engine.c - one message through cleanup (cleanup_engine.h): the
 * envelope taken over, content fed through the header reader into a new
 * queue file, the size limit, commit, the log lines and the qmgr wakeup.
 */
#include "sys.h"
#include "cleanup_state.h"

#include "config.h"
#include "durable.h"
#include "log.h"
#include "mem.h"
#include "valias.h"

/* Its log lines say tern/cleanup, in smtpd and pickup too (inline_cleanup). */
#define CLEANUP_LOG_NAME "cleanup"

static struct cleanup_config cleanup_cf;
static bool cleanup_ready;

void cleanup_fail(struct cleanup_state *st, int status, const char *dsn, const char *fmt, ...)
{
    if (st->status != CLEANUP_STAT_OK)
        return;
    va_list ap;
    va_start(ap, fmt);
    str_t *s = str_new(64);
    str_vappendf(s, fmt, ap);
    va_end(ap);
    st->status = status;
    st->dsn = xstrdup(dsn);
    st->reason = str_steal(&s);
}

const char *cleanup_log_id(const struct cleanup_state *st)
{
    return st->id[0] ? st->id : "NOQUEUE";
}

char *cleanup_log_context(const struct cleanup_state *st)
{
    str_t *s = str_new(128);
    if (st->client_addr != NULL) {
        str_appendz(s, "from ");
        str_append_printable(s, st->client_name ? st->client_name : "unknown",
                             strlen(st->client_name ? st->client_name : "unknown"), 100);
        str_appendc(s, '[');
        str_append_printable(s, st->client_addr, strlen(st->client_addr), 64);
        str_appendz(s, "]; ");
    }
    str_appendz(s, "from=<");
    str_append_printable(s, st->sender, strlen(st->sender), 300);
    str_appendz(s, ">");
    if (st->nrcpt > 0) {
        str_appendz(s, " to=<");
        str_append_printable(s, st->rcpts[0].addr, strlen(st->rcpts[0].addr), 300);
        str_appendz(s, ">");
    }
    if (st->protocol != NULL)
        str_appendf(s, " proto=%s", st->protocol);
    return str_steal(&s);
}

void cleanup_msg_free(cleanup_msg_t **mp)
{
    struct cleanup_state *st = *mp;
    if (st == NULL)
        return;
    qfile_abort(&st->w);
    header_reader_free(&st->reader);
    str_free(&st->headers);
    for (size_t i = 0; i < st->nrcpt; i++) {
        free(st->rcpts[i].addr);
        free(st->rcpts[i].orcpt);
        free(st->rcpts[i].original);
    }
    free(st->rcpts);
    char **strs[] = {&st->origin,        &st->sender, &st->client_name, &st->client_addr,
                     &st->client_port,   &st->helo,   &st->protocol,    &st->sasl_method,
                     &st->sasl_username, &st->envid,  &st->ret,         &st->submit_uid,
                     &st->message_id,    &st->why,    &st->dsn,         &st->reason};
    for (size_t i = 0; i < N_ELEMENTS(strs); i++)
        xfree(*strs[i]);
    xfree(st->tls_info);
    free(st);
    *mp = NULL;
}

cleanup_msg_t *cleanup_msg_begin(const struct cleanup_envelope *env, char **error_r)
{
    if (!cleanup_ready)
        msg_panic("cleanup_msg_begin: cleanup_engine_init has not run");
    log_set_component(CLEANUP_LOG_NAME);
    struct cleanup_state *st = xcalloc(1, sizeof(*st));
    st->cf = &cleanup_cf;
    gettimeofday(&st->arrival, NULL);
    st->headers = str_new_max(4096, 2 * cleanup_cf.header_size_limit + 65536);
    st->reader = header_reader_new(cleanup_cf.header_size_limit, cleanup_header_event, st);
    if (cleanup_set_envelope(st, env, error_r) < 0)
        cleanup_msg_free(&st);
    log_set_component(NULL);
    return st;
}

/* Feed content to the message, unless it has already failed. */
void cleanup_msg_write(cleanup_msg_t *st, const void *buf, size_t n)
{
    log_set_component(CLEANUP_LOG_NAME);
    st->size += n;
    if (st->cf->message_size_limit > 0 && st->size > st->cf->message_size_limit) {
        if (st->status == CLEANUP_STAT_OK && !st->discard) {
            char *ctx = cleanup_log_context(st);
            msg_info("%s: reject: message size exceeds limit %llu; %s", cleanup_log_id(st),
                     st->cf->message_size_limit, ctx);
            free(ctx);
            st->logged = true;
        }
        cleanup_fail(st, CLEANUP_STAT_PERM, "5.3.4", "Message size exceeds fixed limit");
    }
    if (st->status == CLEANUP_STAT_OK && !st->discard)
        (void)header_reader_feed(st->reader, buf, n);
    log_set_component(NULL);
}

/* A discarded message still gets a queue ID for the client and the log. */
static void finish_discard(struct cleanup_state *st)
{
    char *err = NULL;
    if (qfile_create("incoming", &st->w, st->id, &err) < 0) {
        msg_warn("%s", err);
        free(err);
        cleanup_fail(st, CLEANUP_STAT_TEMP, "4.3.0", "queue file write error");
        return;
    }
    qfile_abort(&st->w);
    char *ctx = cleanup_log_context(st);
    msg_info("%s: discard: %s; %s", st->id, st->why ? st->why : "", ctx);
    free(ctx);
}

/* End the headers, commit, log. */
static void finish_message(struct cleanup_state *st)
{
    if (st->status == CLEANUP_STAT_OK && !st->discard)
        (void)header_reader_finish(st->reader);
    if (st->status == CLEANUP_STAT_OK && st->discard) {
        finish_discard(st);
        return;
    }
    if (st->status != CLEANUP_STAT_OK || cleanup_out_commit(st) < 0) {
        qfile_abort(&st->w);
        if (st->status == CLEANUP_STAT_TEMP) {
            msg_warn("%s: %s %s", cleanup_log_id(st), st->dsn, st->reason);
        } else if (!st->logged) {
            char *ctx = cleanup_log_context(st);
            msg_info("%s: reject: %s; %s: %s", cleanup_log_id(st), st->reason, ctx, st->dsn);
            free(ctx);
        }
        st->id[0] = '\0';
        return;
    }
    if (st->message_id != NULL)
        msg_info("%s: message-id=%s", st->id, st->message_id);
    str_t *from = str_new(64);
    str_append_printable(from, st->sender, strlen(st->sender), 300);
    msg_info("%s: from=<%s>, size=%llu, nrcpt=%zu (queue %s)", st->id, str_c(from),
             (unsigned long long)st->size, st->nrcpt, st->hold ? "hold" : "incoming");
    str_free(&from);
    if (!st->hold)
        cleanup_out_wake_qmgr();
}

void cleanup_msg_end(cleanup_msg_t *st, struct cleanup_outcome *out)
{
    log_set_component(CLEANUP_LOG_NAME);
    finish_message(st);
    log_set_component(NULL);
    out->status = st->status;
    out->queue_id = st->status == CLEANUP_STAT_OK ? st->id : "";
    out->dsn = st->status == CLEANUP_STAT_OK ? "2.0.0" : st->dsn;
    out->reason = st->status == CLEANUP_STAT_OK ? "" : st->reason;
}

bool cleanup_engine_ready(void)
{
    return cleanup_ready;
}

void cleanup_engine_init(void)
{
    if (cleanup_ready)
        return;
    const char *qdir = cfg_str("queue_directory");
    if (chdir(qdir) < 0)
        msg_fatal("chdir %s: %s", qdir, strerror(errno));
    /* Concurrent writers share the fsync of incoming/ (durable.h). */
    char *state = xasprintf("%s/incoming.sync", cfg_str("process_id_directory"));
    if (durable_group_open("incoming", state) < 0)
        msg_warn("%s: %s (each message fsyncs incoming/ on its own)", state, strerror(errno));
    free(state);
    char **names = cfg_list("header_checks");
    size_t n = 0;
    while (names[n] != NULL)
        n++;
    cleanup_cf.header_checks = xcalloc(n + 1, sizeof(dict_t *));
    for (size_t i = 0; i < n; i++) {
        char *err = NULL;
        cleanup_cf.header_checks[i] = dict_open(names[i], DICT_FLAG_DEFAULT, &err);
        if (cleanup_cf.header_checks[i] == NULL)
            msg_fatal("header_checks: %s", err);
    }
    cfg_list_free(&names);
    cleanup_cf.header_size_limit = (size_t)cfg_int("header_size_limit");
    cleanup_cf.message_size_limit = (unsigned long long)cfg_int("message_size_limit");
    cleanup_cf.hopcount_limit = (long)cfg_int("hopcount_limit");
    cleanup_cf.rcpt_limit = (size_t)cfg_int("cleanup_recipient_limit");
    cleanup_cf.append_at_myorigin = cfg_bool("append_at_myorigin");
    cleanup_cf.myhostname = cfg_str("myhostname");
    cleanup_cf.myorigin = cfg_str("myorigin");
    cleanup_cf.valias = valias_enabled();
    cleanup_ready = true;
}
