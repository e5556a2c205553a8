/*
 * fuzz_qfile.c - libFuzzer target: arbitrary bytes as a queue file through
 * the strict reader (envelope parse, accessors, content read-back).
 */
#include "sys.h"
#include "mem.h"
#include "qfile.h"

#include <sys/mman.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("qfile", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (size > 0 && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    struct qfile_limits lim = {.max_record = 4096, .max_rcpt = 1000};
    qfile_t *qf = NULL;
    char *err = NULL;
    if (qfile_open_fd(fd, "fuzz", QFILE_OPEN_ANY_MODE, &lim, &qf, &err) < 0) {
        if (err == NULL)
            abort(); /* every failure must say why */
        free(err);
        return 0;
    }
    struct timeval tv;
    qfile_arrival(qf, &tv);
    (void)strlen(qfile_sender(qf));
    for (size_t i = 0; i < qfile_attr_count(qf); i++) {
        const char *n, *v;
        qfile_attr_at(qf, i, &n, &v);
        if (qfile_attr(qf, n) != v)
            abort();
    }
    for (size_t i = 0; i < qfile_rcpt_count(qf); i++) {
        const struct qfile_rcpt *r = qfile_rcpt(qf, i);
        if (r->address[0] == '\0' || r->status_offset >= (off_t)size)
            abort();
    }
    (void)qfile_rcpt_pending(qf);
    uint64_t total = 0;
    char buf[333];
    ssize_t n;
    while ((n = qfile_content_read(qf, buf, sizeof(buf), &err)) > 0)
        total += (uint64_t)n;
    if (n < 0 || total != qfile_content_size(qf) || qfile_header_size(qf) > total)
        abort();
    qfile_close(&qf);
    return 0;
}
