/*
 * sendmail_submit.c - reading a message from standard input and handing
 * it to terndrop(1): line ends normalised to "\n", a lone "." ends the
 * input unless -i, the size bounded by message_size_limit.
 */
#include "sys.h"

#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "config.h"
#include "log.h"
#include "mem.h"
#include "sendmail.h"

#define SENDMAIL_LINE_PIECE 65536 /* longest piece of a line read at once */

/* An executable file other than this program itself. */
static bool sendmail_is_other_program(const char *path)
{
    char *self = realpath("/proc/self/exe", NULL);
    char *real = realpath(path, NULL);
    bool ok = real != NULL && access(real, X_OK) == 0 && (self == NULL || strcmp(self, real) != 0);
    free(self);
    free(real);
    return ok;
}

char *sendmail_program(const char *name)
{
    char *path = xasprintf("%s/%s", cfg_str("command_directory"), name);
    if (sendmail_is_other_program(path))
        return path;
    free(path);
    char *self = realpath("/proc/self/exe", NULL);
    char *slash = self ? strrchr(self, '/') : NULL;
    if (slash != NULL) {
        *slash = '\0';
        path = xasprintf("%s/%s", self, name);
        free(self);
        if (sendmail_is_other_program(path))
            return path;
        free(path);
        return NULL;
    }
    free(self);
    return NULL;
}

static pid_t sendmail_spawn_drop(const struct sendmail_opts *o, int *fd_r)
{
    char *prog = sendmail_program("terndrop");
    int p[2];
    if (prog == NULL) {
        msg_error("fatal: cannot find terndrop in %s or beside sendmail",
                  cfg_str("command_directory"));
        return -1;
    }
    if (pipe(p) < 0) {
        msg_error("fatal: pipe: %s", strerror(errno));
        free(prog);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[0], 0);
        close(p[0]);
        close(p[1]);
        char *args[] = {"terndrop", "-c", (char *)o->config_dir, o->verbose ? "-v" : NULL, NULL};
        execv(prog, args);
        fprintf(stderr, "sendmail: fatal: execute %s: %s\n", prog, strerror(errno));
        _exit(EX_TEMPFAIL);
    }
    close(p[0]);
    free(prog);
    if (pid < 0) {
        msg_error("fatal: fork: %s", strerror(errno));
        close(p[1]);
        return -1;
    }
    *fd_r = p[1];
    return pid;
}

static int sendmail_wait(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return EX_TEMPFAIL;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    msg_error("fatal: terndrop killed by signal %d", WTERMSIG(status));
    return EX_TEMPFAIL;
}

int sendmail_drop(const struct sendmail_opts *o, const struct maildrop_request *req,
                  sendmail_content_fn content, void *ctx)
{
    int fd;
    signal(SIGPIPE, SIG_IGN);
    pid_t pid = sendmail_spawn_drop(o, &fd);
    if (pid < 0)
        return EX_TEMPFAIL;
    stream_t *s = stream_open_fd(fd, STREAM_OWN_FD);
    stream_set_timeout(s, 300);
    maildrop_request_write(s, req);
    int rc = content(ctx, s);
    if (rc == EX_OK) {
        maildrop_chunk_write(s, NULL, 0);
        stream_flush(s);
    }
    stream_close(&s); /* without the end marker terndrop queues nothing */
    int drop = sendmail_wait(pid);
    if (rc != EX_OK)
        return rc;
    if (drop != EX_OK && drop != EX_DATAERR && drop != EX_USAGE && drop != EX_CONFIG)
        drop = EX_TEMPFAIL;
    return drop;
}

/* Reading state: pending bytes for the next chunk and the input position. */
struct sendmail_reader {
    const struct sendmail_opts *o;
    str_t *out;
    long long limit;
    uint64_t total;
    bool at_line_start;
    bool pending_cr;
    char last; /* the last byte emitted */
};

static int sendmail_emit(struct sendmail_reader *r, stream_t *to, const char *p, size_t n)
{
    r->total += n;
    if (r->limit > 0 && r->total > (uint64_t)r->limit) {
        msg_error("fatal: message file too big (message_size_limit = %lld bytes)", r->limit);
        return EX_DATAERR;
    }
    str_append(r->out, p, n);
    if (n > 0)
        r->last = p[n - 1];
    if (str_len(r->out) >= MAILDROP_CHUNK_MAX) {
        maildrop_chunk_write(to, str_c(r->out), MAILDROP_CHUNK_MAX);
        size_t rest = str_len(r->out) - MAILDROP_CHUNK_MAX;
        memmove(r->out->s, r->out->s + MAILDROP_CHUNK_MAX, rest);
        str_truncate(r->out, rest);
    }
    return EX_OK;
}

/* One piece of a line (a whole line, or part of a long one). */
static int sendmail_piece(struct sendmail_reader *r, stream_t *to, str_t *line, bool whole)
{
    const char *p = str_c(line);
    size_t n = str_len(line);
    int rc = EX_OK;
    if (r->pending_cr) {
        r->pending_cr = false;
        if (!(n > 0 && p[0] == '\n'))
            rc = sendmail_emit(r, to, "\r", 1);
    }
    if (whole && n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n') {
        line->s[n - 2] = '\n';
        n--;
    } else if (!whole && n > 0 && p[n - 1] == '\r') {
        r->pending_cr = true;
        n--;
    }
    if (rc == EX_OK)
        rc = sendmail_emit(r, to, p, n);
    r->at_line_start = whole;
    return rc;
}

static bool sendmail_is_dot(const str_t *line)
{
    const char *p = str_c(line);
    return strcmp(p, ".\n") == 0 || strcmp(p, ".\r\n") == 0 || strcmp(p, ".") == 0;
}

static int sendmail_stdin_content(void *ctx, stream_t *to)
{
    struct sendmail_reader *r = ctx;
    stream_t *in = stream_open_fd(0, 0);
    str_t *line = str_new(256);
    int rc = EX_OK;
    for (;;) {
        int st = stream_read_line(in, line, SENDMAIL_LINE_PIECE);
        if (st == STREAM_EOF)
            break;
        if (st != STREAM_OK && st != STREAM_TOOLONG) {
            msg_error("fatal: reading the message: %s", stream_strstatus(st));
            rc = EX_TEMPFAIL;
            break;
        }
        if (st == STREAM_OK && r->at_line_start && r->o->dot_ends && sendmail_is_dot(line))
            break;
        if ((rc = sendmail_piece(r, to, line, st == STREAM_OK)) != EX_OK)
            break;
    }
    if (rc == EX_OK && r->pending_cr)
        rc = sendmail_emit(r, to, "\r", 1);
    if (rc == EX_OK && r->total > 0 && r->last != '\n')
        rc = sendmail_emit(r, to, "\n", 1);
    if (rc == EX_OK && str_len(r->out) > 0)
        maildrop_chunk_write(to, str_c(r->out), str_len(r->out));
    str_free(&line);
    stream_close(&in);
    return rc;
}

int sendmail_deliver(struct sendmail_opts *o)
{
    struct sendmail_reader r = {.o = o,
                                .out = str_new(MAILDROP_CHUNK_MAX + SENDMAIL_LINE_PIECE),
                                .limit = cfg_int("message_size_limit"),
                                .at_line_start = true};
    int rc = sendmail_drop(o, &o->req, sendmail_stdin_content, &r);
    str_free(&r.out);
    return rc;
}
