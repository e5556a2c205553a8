/*
 * local_qwrite.c - test helper for the local delivery agent: write a
 * complete queue file (lib/qfile.h) into DIR with the given sender and
 * recipients, content from stdin ("\n" line ends, header section up to
 * the first empty line), and print its queue ID.
 *
 *     local_qwrite DIR SENDER RCPT... < message
 */
#include "sys.h"
#include "log.h"
#include "mem.h"
#include "qfile.h"
#include "str.h"

#include <sys/time.h>

static int qwrite_content(qfile_writer_t *w, const str_t *msg, char **err)
{
    const char *p = str_c(msg);
    const char *sep = strstr(p, "\n\n");
    size_t hlen = sep ? (size_t)(sep - p) + 1 : str_len(msg);
    if (qfile_write_content(w, p, hlen, err) < 0)
        return -1;
    if (sep && qfile_write_body_marker(w, err) < 0)
        return -1;
    return qfile_write_content(w, p + hlen, str_len(msg) - hlen, err);
}

int main(int argc, char **argv)
{
    log_init("local_qwrite");
    if (argc < 4) {
        fprintf(stderr, "usage: local_qwrite DIR SENDER RCPT... < message\n");
        return 2;
    }
    str_t *msg = str_new(4096);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
        str_append(msg, buf, n);
    qfile_writer_t *w;
    char id[QUEUE_ID_SIZE], *err = NULL;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int rc = qfile_create(argv[1], &w, id, &err);
    if (rc == 0)
        rc = qfile_write_arrival(w, &tv, &err);
    if (rc == 0)
        rc = qfile_write_sender(w, argv[2], &err);
    for (int i = 3; rc == 0 && i < argc; i++) {
        struct qfile_rcpt_spec r = {.address = argv[i]};
        rc = qfile_write_rcpt(w, &r, &err);
    }
    if (rc == 0)
        rc = qwrite_content(w, msg, &err);
    if (rc == 0)
        rc = qfile_commit(&w, &err);
    else
        qfile_abort(&w);
    if (rc < 0) {
        fprintf(stderr, "local_qwrite: %s\n", err);
        return 1;
    }
    printf("%s\n", id);
    str_free(&msg);
    return 0;
}
