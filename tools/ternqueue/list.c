/*
 * list.c - `ternqueue -p` (the mailq listing in Postfix's layout) and
 * `ternqueue -j` (one JSON object per message, as `postqueue -j`).
 *
 * Only pending recipients are shown.  A message in active/ is marked '*'
 * after its ID, one in hold/ '!'.  The reason of a recipient's last
 * deferral (from defer/ID) is printed in parentheses above it.
 */
#include "sys.h"

#include <time.h>

#include "log.h"
#include "mem.h"
#include "str.h"
#include "ternqueue.h"

#define TQ_ID_WIDTH 17    /* ID plus status mark */
#define TQ_RCPT_INDENT 48 /* where the sender and recipient column starts */
#define TQ_REASON_INDENT 8

static const char *const tq_list_queues[] = {TQ_MAILDROP, TQ_INCOMING, TQ_ACTIVE,
                                             TQ_DEFERRED, TQ_HOLD,     NULL};

struct tq_totals {
    uint64_t bytes;
    size_t messages;
};

void tq_print_safe(FILE *fp, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, fp);
}

static void tq_print_reason(const char *reason)
{
    printf("%*s(", TQ_REASON_INDENT, "");
    tq_print_safe(stdout, reason);
    fputs(")\n", stdout);
}

/* One message in the mailq layout. */
static void tq_print_text(const struct tq_msg *m, struct tq_totals *t)
{
    char mark = strcmp(m->queue, TQ_ACTIVE) == 0 ? '*' : strcmp(m->queue, TQ_HOLD) == 0 ? '!' : ' ';
    char when[64];
    time_t sec = m->arrival.tv_sec;
    struct tm tm;
    if (localtime_r(&sec, &tm) == NULL ||
        strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm) == 0)
        str_lcpy(when, "?", sizeof(when));
    if (t->messages == 0)
        printf("%-*s --Size-- ----Arrival Time---- -Sender/Recipient-------\n", TQ_ID_WIDTH,
               "-Queue ID-");
    printf("%s%c%*s %8llu %-20s ", m->id, mark,
           (int)(strlen(m->id) + 1 < TQ_ID_WIDTH ? TQ_ID_WIDTH - strlen(m->id) - 1 : 0), "",
           (unsigned long long)m->size, when);
    tq_print_safe(stdout, m->sender[0] != '\0' ? m->sender : "MAILER-DAEMON");
    fputc('\n', stdout);
    const char *last = NULL;
    for (size_t i = 0; i < m->rcpt_count; i++) {
        const char *reason = m->rcpts[i].reason;
        if (reason != NULL && (last == NULL || strcmp(reason, last) != 0))
            tq_print_reason(reason);
        last = reason;
        printf("%*s", TQ_RCPT_INDENT, "");
        tq_print_safe(stdout, m->rcpts[i].address);
        fputc('\n', stdout);
    }
    fputc('\n', stdout);
}

/* One message as a JSON object on one line. */
static void tq_print_json(const struct tq_msg *m)
{
    fputs("{\"queue_name\": ", stdout);
    tq_json_string(stdout, m->queue);
    fputs(", \"queue_id\": ", stdout);
    tq_json_string(stdout, m->id);
    printf(", \"arrival_time\": %lld, \"message_size\": %llu, \"forced_expire\": false",
           (long long)m->arrival.tv_sec, (unsigned long long)m->size);
    fputs(", \"sender\": ", stdout);
    tq_json_string(stdout, m->sender);
    fputs(", \"recipients\": [", stdout);
    for (size_t i = 0; i < m->rcpt_count; i++) {
        fputs(i ? ", {\"address\": " : "{\"address\": ", stdout);
        tq_json_string(stdout, m->rcpts[i].address);
        if (m->rcpts[i].reason != NULL) {
            fputs(", \"delay_reason\": ", stdout);
            tq_json_string(stdout, m->rcpts[i].reason);
        }
        fputc('}', stdout);
    }
    fputs("]}\n", stdout);
}

/* List one queue directory; -1 when it cannot be read. */
static int tq_list_queue(const char *queue, bool json, struct tq_totals *t)
{
    struct tq_ids ids;
    char *error = NULL;
    if (tq_ids_read(queue, &ids, &error) < 0) {
        msg_error("%s (listing the queue needs root or mail_owner privileges)", error);
        free(error);
        return -1;
    }
    for (size_t i = 0; i < ids.n; i++) {
        struct tq_msg m;
        int rc = tq_msg_load(queue, ids.v[i], &m, &error);
        if (rc < 0 && strcmp(queue, TQ_MAILDROP) != 0)
            msg_warn("%s", error); /* maildrop may hold files of another format */
        xfree(error);
        if (rc != 0)
            continue;
        if (json)
            tq_print_json(&m);
        else
            tq_print_text(&m, t);
        t->bytes += m.size;
        t->messages++;
        tq_msg_free(&m);
    }
    tq_ids_free(&ids);
    return 0;
}

int tq_list(bool json)
{
    struct tq_totals t = {0};
    int status = 0;
    for (size_t i = 0; tq_list_queues[i] != NULL; i++)
        if (tq_list_queue(tq_list_queues[i], json, &t) < 0)
            status = 1;
    if (json || status != 0)
        return status;
    if (t.messages == 0)
        printf("Mail queue is empty\n");
    else
        printf("-- %llu Kbytes in %zu Request%s.\n", (unsigned long long)((t.bytes + 1023) / 1024),
               t.messages, t.messages == 1 ? "" : "s");
    return 0;
}
