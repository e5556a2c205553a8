/*
 * stream.h - buffered streams over sockets, pipes and files.
 *
 * Every read and write has a deadline (stream_set_timeout); a line read
 * takes a length limit and reports STREAM_TOOLONG rather than truncating.
 * The raw I/O goes through a layer (plain fd by default); TLS later pushes
 * its own layer with stream_set_layer() and callers do not change.
 */
#ifndef TERN_STREAM_H
#define TERN_STREAM_H

#include "sys.h"
#include "str.h"

enum stream_status {
    STREAM_OK = 0,
    STREAM_EOF = -1,     /* orderly end of input */
    STREAM_TOOLONG = -2, /* line longer than the caller's limit */
    STREAM_TIMEOUT = -3, /* the deadline passed */
    STREAM_ERROR = -4,   /* I/O error (errno is set) */
};

/*
 * An I/O layer.  read/write move at most len bytes, waiting no later than
 * deadline_ms (a stream_now_ms() value, or -1 for no deadline).  They
 * return the count, 0 for end of input (read), or -1 with errno set
 * (ETIMEDOUT when the deadline passed).
 */
struct stream_layer {
    ssize_t (*read)(void *ctx, int fd, void *buf, size_t len, int64_t deadline_ms);
    ssize_t (*write)(void *ctx, int fd, const void *buf, size_t len, int64_t deadline_ms);
    void (*free)(void *ctx);
};

typedef struct stream stream_t;

#define STREAM_OWN_FD 1 /* stream_close() closes the descriptor */

stream_t *stream_open_fd(int fd, int flags);
/* Free the stream (without flushing); closes the fd if owned. */
void stream_close(stream_t **sp);
int stream_fd(const stream_t *s);

/* Per-operation timeout in milliseconds; 0 disables (wait forever). */
void stream_set_timeout_ms(stream_t *s, int ms);
void stream_set_timeout(stream_t *s, int seconds);

/* Replace the I/O layer (ctx is freed by layer->free on close/replace). */
void stream_set_layer(stream_t *s, const struct stream_layer *layer, void *ctx);
void *stream_layer_ctx(const stream_t *s);
/* The current layer (never NULL: the plain layer when none was set). */
const struct stream_layer *stream_get_layer(const stream_t *s);
/* The per-operation timeout in milliseconds (0: none). */
int stream_get_timeout_ms(const stream_t *s);

/* Monotonic clock in milliseconds, for deadlines. */
int64_t stream_now_ms(void);
/* Wait until fd is readable/writable (events as for poll) or the deadline. */
int stream_wait_fd(int fd, short events, int64_t deadline_ms);

/*
 * Read one line including its "\n" into line (replacing its contents).
 * A final line without "\n" at end of input is returned as STREAM_OK.
 * Returns STREAM_TOOLONG when the line, counting its "\n", would be longer
 * than limit bytes: line then holds the first limit bytes and the rest of
 * the line is still unread (stream_skip_line discards it).
 */
int stream_read_line(stream_t *s, str_t *line, size_t limit);
/* Discard input up to and including the next "\n". */
int stream_skip_line(stream_t *s);
/* Read up to n bytes: > 0 count, or a stream_status (EOF/TIMEOUT/ERROR). */
ssize_t stream_read(stream_t *s, void *buf, size_t n);
/* Read exactly n bytes: STREAM_OK or a stream_status. */
int stream_read_exact(stream_t *s, void *buf, size_t n);
/* Append exactly n bytes to out. */
int stream_read_append(stream_t *s, str_t *out, size_t n);
/* Bytes already buffered and not yet consumed by the caller. */
size_t stream_buffered(const stream_t *s);
/* Throw away buffered input (e.g. plaintext sent before STARTTLS). */
void stream_discard_input(stream_t *s);

/*
 * Buffered output.  Errors are sticky: after one, every write and flush
 * returns the same status, so a caller may check only at stream_flush().
 */
int stream_write(stream_t *s, const void *data, size_t n);
int stream_puts(stream_t *s, const char *z);
int stream_printf(stream_t *s, const char *fmt, ...) TERN_PRINTF(2, 3);
int stream_flush(stream_t *s);
/* STREAM_OK, or the first write error seen. */
int stream_error(const stream_t *s);

const char *stream_strstatus(int status);

#endif
