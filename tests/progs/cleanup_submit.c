/*
 * cleanup_submit.c - test helper: hand one message to a cleanup service
 * with lib/cleanup_client, the way smtpd and pickup do.
 *
 *   cleanup_submit -S SOCKET [-o ORIGIN] [-f SENDER] [-r RCPT]... [-p PROTO]
 *                  [-h HELO] [-n CLIENT_NAME] [-a CLIENT_ADDR] [-u UID]
 *                  [-l] [-t] [-A] [-c CHUNK] < message
 *
 * -l local_submission, -t extract_recipients, -A abort (close before the
 * end of the content), -c write the content in pieces of CHUNK bytes.
 * Prints "status=N queue_id=ID dsn=D reason=TEXT" and exits 0, or 2
 * when the service cannot be reached.
 */
#include "sys.h"
#include "cleanup_client.h"
#include "log.h"
#include "mem.h"

#include <signal.h>

int main(int argc, char **argv)
{
    struct cleanup_envelope env = {.origin = "smtpd", .sender = "", .timeout = 20};
    struct cleanup_rcpt *rcpts = xcalloc((size_t)argc + 1, sizeof(*rcpts));
    bool abort_it = false;
    size_t piece = 4096;
    int c;
    log_init("cleanup_submit");
    signal(SIGPIPE, SIG_IGN);
    while ((c = getopt(argc, argv, "S:o:f:r:p:h:n:a:u:ltAc:")) != -1) {
        switch (c) {
        case 'S':
            env.service_path = optarg;
            break;
        case 'o':
            env.origin = optarg;
            break;
        case 'f':
            env.sender = optarg;
            break;
        case 'r':
            rcpts[env.rcpt_count++].address = optarg;
            break;
        case 'p':
            env.protocol = optarg;
            break;
        case 'h':
            env.helo_name = optarg;
            break;
        case 'n':
            env.client_name = optarg;
            break;
        case 'a':
            env.client_addr = optarg;
            break;
        case 'u':
            env.submit_uid = optarg;
            break;
        case 'l':
            env.local_submission = true;
            break;
        case 't':
            env.extract_recipients = true;
            break;
        case 'A':
            abort_it = true;
            break;
        case 'c':
            piece = (size_t)strtoul(optarg, NULL, 10);
            break;
        default:
            return 64;
        }
    }
    if (piece == 0)
        piece = 1;
    env.rcpts = rcpts;
    char *err = NULL;
    cleanup_t *h = cleanup_open(&env, &err);
    if (h == NULL) {
        fprintf(stderr, "cleanup_submit: %s\n", err);
        free(err);
        free(rcpts);
        return 2;
    }
    char *buf = xmalloc(piece);
    size_t n;
    while ((n = fread(buf, 1, piece, stdin)) > 0)
        cleanup_write(h, buf, n);
    free(buf);
    if (abort_it) {
        cleanup_abort(&h);
        printf("aborted\n");
    } else {
        struct cleanup_result res;
        cleanup_finish(&h, &res);
        printf("status=%d queue_id=%s dsn=%s reason=%s\n", res.status, res.queue_id, res.dsn,
               res.reason);
    }
    free(rcpts);
    return 0;
}
