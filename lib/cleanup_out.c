/*
 * cleanup_out.c - the queue file: created in incoming/ (or hold/) once
 * the header section is known, envelope, the Received: header, content;
 * committed durably (the only point at which a message is accepted);
 * then qmgr is woken.
 *
 * Paths are relative to queue_directory, which is the current directory
 * (cleanup.c changes to it before any chroot).
 */
#include "sys.h"
#include "cleanup_state.h"

#include "cleanup_proto.h"
#include "log.h"
#include "mem.h"
#include "rfc822_date.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define RCVD_FIELD_MAX 255 /* longest HELO/name/address text put in Received: */

/* Untrusted text for a Received: clause: printable, no spaces, bounded. */
static void put_token(str_t *out, const char *text, const char *def)
{
    if (text == NULL || text[0] == '\0')
        text = def;
    size_t n = strlen(text);
    if (n > RCVD_FIELD_MAX)
        n = RCVD_FIELD_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        str_appendc(out, c > 0x20 && c < 0x7f && c != '(' && c != ')' ? (char)c : '?');
    }
}

/*
 * smtpd's TLS summary, "(using TLSv1.3 with cipher X (256/256 bits))":
 * only the characters such a summary has, bounded, else nothing.
 */
static void put_tls_info(str_t *out, const char *info)
{
    if (info == NULL || strlen(info) > 200 ||
        strspn(info, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ._-/()") !=
            strlen(info))
        return;
    str_appendf(out, "\n\t(using %s)", info);
}

/* The Received: header, Postfix's layout. */
static void received_header(struct cleanup_state *st, str_t *out)
{
    const char *proto = st->protocol ? st->protocol : "ESMTP";
    str_appendz(out, "Received: ");
    if (strcmp(st->origin, "smtpd") == 0) {
        str_appendz(out, "from ");
        put_token(out, st->helo ? st->helo : st->client_name, "unknown");
        str_appendz(out, " (");
        put_token(out, st->client_name, "unknown");
        str_appendz(out, " [");
        if (st->client_addr != NULL && strchr(st->client_addr, ':') != NULL)
            str_appendz(out, "IPv6:");
        put_token(out, st->client_addr, "unknown");
        str_appendz(out, "])");
        put_tls_info(out, st->tls_info);
        str_appendz(out, "\n\tby ");
        put_token(out, st->cf->myhostname, "localhost");
        str_appendz(out, " (tern) with ");
        put_token(out, proto, "ESMTP");
        str_appendf(out, " id %s", st->id);
    } else {
        str_appendz(out, "by ");
        put_token(out, st->cf->myhostname, "localhost");
        if (st->submit_uid != NULL &&
            strspn(st->submit_uid, "0123456789") == strlen(st->submit_uid) &&
            strlen(st->submit_uid) < 12)
            str_appendf(out, " (tern, from userid %s)", st->submit_uid);
        else
            str_appendz(out, " (tern)");
        str_appendf(out, "\n\tid %s", st->id);
    }
    if (st->nrcpt == 1 && !st->extract) {
        str_appendz(out, "\n\tfor <");
        put_token(out, st->rcpts[0].original ? st->rcpts[0].original : st->rcpts[0].addr, "");
        str_appendz(out, ">; ");
    } else {
        str_appendz(out, ";\n\t");
    }
    rfc822_date(out, st->arrival.tv_sec);
    str_appendc(out, '\n');
}

static int write_envelope(struct cleanup_state *st, char **err)
{
    struct qfile_client c = {
        .name = st->client_name,
        .addr = st->client_addr,
        .port = st->client_port,
        .helo = st->helo,
        .protocol = st->protocol,
        .sasl_method = st->sasl_method,
        .sasl_username = st->sasl_username,
    };
    if (qfile_write_arrival(st->w, &st->arrival, err) < 0 ||
        qfile_write_sender(st->w, st->sender, err) < 0 || qfile_write_client(st->w, &c, err) < 0 ||
        qfile_write_dsn(st->w, st->envid, st->ret, err) < 0 ||
        (st->smtputf8 && qfile_write_attr(st->w, "smtputf8", "1", err) < 0) ||
        qfile_write_attr(st->w, "origin", st->origin, err) < 0)
        return -1;
    for (size_t i = 0; i < st->nrcpt; i++) {
        struct qfile_rcpt_spec r = {
            .address = st->rcpts[i].addr,
            .orcpt = st->rcpts[i].orcpt,
            .original = st->rcpts[i].original,
            .notify = st->rcpts[i].notify,
        };
        if (qfile_write_rcpt(st->w, &r, err) < 0)
            return -1;
    }
    return 0;
}

/* A write failure: ENOSPC/EDQUOT get their own code. */
static void fail_write(struct cleanup_state *st, const char *err)
{
    msg_warn("%s: %s", cleanup_log_id(st), err);
    if (strstr(err, strerror(ENOSPC)) != NULL || strstr(err, strerror(EDQUOT)) != NULL)
        cleanup_fail(st, CLEANUP_STAT_TEMP, "4.3.1", "Insufficient system storage");
    else
        cleanup_fail(st, CLEANUP_STAT_TEMP, "4.3.0", "queue file write error");
}

int cleanup_out_create(struct cleanup_state *st)
{
    char *err = NULL;
    const char *dir = st->hold ? "hold" : "incoming";
    if (qfile_create(dir, &st->w, st->id, &err) < 0) {
        fail_write(st, err);
        free(err);
        return -1;
    }
    if (st->hold)
        msg_info("%s: hold: %s", st->id, st->why ? st->why : "");
    str_t *rcvd = str_new(256);
    received_header(st, rcvd);
    int rc = write_envelope(st, &err);
    if (rc == 0)
        rc = qfile_write_content(st->w, str_c(rcvd), str_len(rcvd), &err);
    str_free(&rcvd);
    if (rc < 0) {
        fail_write(st, err);
        free(err);
        qfile_abort(&st->w);
    }
    return rc;
}

int cleanup_out_content(struct cleanup_state *st, const char *data, size_t len)
{
    char *err = NULL;
    if (st->w == NULL)
        return -1;
    if (qfile_write_content(st->w, data, len, &err) < 0) {
        fail_write(st, err);
        free(err);
        qfile_abort(&st->w);
        return -1;
    }
    return 0;
}

int cleanup_out_body_marker(struct cleanup_state *st)
{
    char *err = NULL;
    if (qfile_write_body_marker(st->w, &err) < 0) {
        fail_write(st, err);
        free(err);
        qfile_abort(&st->w);
        return -1;
    }
    return 0;
}

int cleanup_out_commit(struct cleanup_state *st)
{
    char *err = NULL;
    if (qfile_commit(&st->w, &err) < 0) {
        fail_write(st, err);
        free(err);
        return -1;
    }
    return 0;
}

/*
 * Tell qmgr there is new mail: a UNIX socket or a FIFO at public/qmgr.
 * The socket is tried first, without a stat(): four system calls.
 */
void cleanup_out_wake_qmgr(void)
{
    static const char req = QMGR_REQ_NEW;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    str_lcpy(sun.sun_path, QMGR_SERVICE, sizeof(sun.sun_path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        int err = errno;
        close(fd);
        fd = -1;
        if (err == ECONNREFUSED) /* a FIFO (or nobody listening: qmgr scans anyway) */
            fd = open(QMGR_SERVICE, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        else
            errno = err;
    }
    if (fd < 0) {
        msg_debug("qmgr wakeup: %s: %s", QMGR_SERVICE, strerror(errno));
        return;
    }
    if (write(fd, &req, 1) != 1)
        msg_debug("qmgr wakeup: write: %s", strerror(errno));
    close(fd);
}
