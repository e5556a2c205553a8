/*
 * testsvc.c - a tiny daemon on the server skeleton, for master's tests.
 *
 * Per connection it writes "hello PID UID SERVICE\r\n" and then answers
 * line by line: "SLEEP N" holds the connection N seconds then answers
 * "slept", "QUIT" answers "bye" and closes, anything else is echoed.
 * A master.cf argument "crash" makes it exit 1 at once (a crash loop);
 * "trigger" makes it a SERVER_TRIGGER daemon that appends each wakeup
 * request it receives to the file named by the next argument.
 */
#include "log.h"
#include "server.h"
#include "str.h"
#include "stream.h"

#include <fcntl.h>

#define TESTSVC_LINE_MAX 1024

static void testsvc_service(stream_t *client, const char *service, void *ctx)
{
    (void)ctx;
    str_t *line = str_new(128);
    stream_printf(client, "hello %ld %ld %s\r\n", (long)getpid(), (long)geteuid(), service);
    while (stream_flush(client) == STREAM_OK &&
           stream_read_line(client, line, TESTSVC_LINE_MAX) == STREAM_OK) {
        str_chomp(line);
        if (strcmp(str_c(line), "QUIT") == 0) {
            stream_puts(client, "bye\r\n");
            stream_flush(client);
            break;
        }
        if (strncmp(str_c(line), "SLEEP ", 6) == 0) {
            sleep((unsigned)atoi(str_c(line) + 6));
            stream_puts(client, "slept\r\n");
            continue;
        }
        stream_printf(client, "%s\r\n", str_c(line));
    }
    str_free(&line);
}

static const char *trigger_file;

static void testsvc_trigger(const char *buf, size_t len, const char *service, void *ctx)
{
    (void)ctx;
    int fd = open(trigger_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        msg_fatal("open %s: %s", trigger_file, strerror(errno));
    str_t *s = str_new(64);
    str_appendf(s, "%s ", service);
    str_append_printable(s, buf, len, 64);
    str_appendc(s, '\n');
    (void)!write(fd, str_c(s), str_len(s));
    str_free(&s);
    close(fd);
}

static bool has_arg(int argc, char **argv, const char *word, int *idx_r)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], word) == 0) {
            *idx_r = i;
            return true;
        }
    return false;
}

int main(int argc, char **argv)
{
    int idx;
    if (has_arg(argc, argv, "crash", &idx))
        return 1;
    if (has_arg(argc, argv, "trigger", &idx) && idx + 1 < argc) {
        trigger_file = argv[idx + 1];
        static const struct server_settings ts = {
            .name = "testsvc", .mode = SERVER_TRIGGER, .trigger = testsvc_trigger};
        return server_main(argc, argv, &ts);
    }
    static const struct server_settings s = {
        .name = "testsvc", .mode = SERVER_SINGLE, .service = testsvc_service};
    return server_main(argc, argv, &s);
}
