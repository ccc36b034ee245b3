/* restart.c - calls keep working across a clean restart of every server: the
 * library notices the closed connections and reconnects, so not even the first
 * call after the restart fails.
 * Usage: restart SERVERS. Prints "ready", then waits for a line on stdin (the test
 * restarts the servers meanwhile) before checking. */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

#define SIZE (2 * 1024 * 1024 + 5)

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s SERVERS\n", argv[0]);
        return 2;
    }
    static unsigned char buf[SIZE];
    benchfs_context_t *ctx = benchfs_init(argv[1]);
    CHECK(ctx != NULL);
    benchfs_file_t *f = benchfs_create(ctx, "/r", O_RDWR, 0644);
    CHECK(f != NULL);
    pattern_fill(buf, SIZE, 3, 0);
    CHECK_RC(benchfs_write(f, buf, SIZE, 0), SIZE);
    CHECK_RC(benchfs_fsync(f), 0);

    printf("ready\n");
    fflush(stdout);
    char line[16];
    CHECK(fgets(line, sizeof line, stdin) != NULL);

    struct stat st;
    CHECK_RC(benchfs_stat(ctx, "/r", &st), 0);
    CHECK_RC(st.st_size, SIZE);
    memset(buf, 0, SIZE);
    CHECK_RC(benchfs_read(f, buf, SIZE, 0), SIZE);
    CHECK(pattern_mismatch(buf, SIZE, 3, 0) == -1);
    CHECK_RC(benchfs_write(f, buf, 5, SIZE), 5);
    CHECK_RC(benchfs_close(f), 0);
    CHECK_RC(benchfs_get_file_size(ctx, "/r"), SIZE + 5);
    CHECK_RC(benchfs_finalize(ctx), 0);
    printf("restart: ok\n");
    return 0;
}
