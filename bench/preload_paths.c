/* Creates, stats and removes of N empty files, then M 1 MiB writes to one file and
 * reads of it back, through POSIX calls (the FUSE mount; the interposer when run under
 * LD_PRELOAD) or through the C API (`api` as the first argument). bench/preload_paths.sh
 * runs it all three ways on one cluster and prints the ratios.
 *
 *   preload_paths posix DIR N M      # DIR on the mount
 *   preload_paths api   /DIR N M     # BENCHFS_SERVERS names the cluster
 *
 * Prints one line: "creates/s stats/s removes/s write-MB/s read-MB/s". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "benchfs.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what, const char *path) {
    fprintf(stderr, "preload_paths: %s %s failed\n", what, path);
    exit(1);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s posix|api DIR FILES MIB\n", argv[0]);
        return 2;
    }
    int api = strcmp(argv[1], "api") == 0;
    const char *dir = argv[2];
    long n = atol(argv[3]), mib = atol(argv[4]);
    benchfs_context_t *ctx = NULL;
    if (api && !(ctx = benchfs_init(NULL))) die("benchfs_init", benchfs_get_error());
    char p[4096];
    static char buf[1 << 20];
    memset(buf, 'b', sizeof buf);
    struct stat st;
    double r[5], t;

    t = now();
    for (long i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/f%ld", dir, i);
        if (api) {
            benchfs_file_t *f = benchfs_create(ctx, p, O_WRONLY, 0644);
            if (!f || benchfs_close(f) < 0) die("create", p);
        } else {
            int fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
            if (fd < 0 || close(fd) < 0) die("create", p);
        }
    }
    r[0] = n / (now() - t);
    t = now();
    for (long i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/f%ld", dir, i);
        if ((api ? benchfs_stat(ctx, p, &st) : stat(p, &st)) < 0) die("stat", p);
    }
    r[1] = n / (now() - t);
    t = now();
    for (long i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/f%ld", dir, i);
        if ((api ? benchfs_remove(ctx, p) : unlink(p)) < 0) die("remove", p);
    }
    r[2] = n / (now() - t);

    snprintf(p, sizeof p, "%s/big", dir);
    t = now();
    if (api) {
        benchfs_file_t *f = benchfs_create(ctx, p, O_WRONLY, 0644);
        for (long i = 0; f && i < mib; i++)
            if (benchfs_write(f, buf, sizeof buf, (off_t)i << 20) != (ssize_t)sizeof buf) die("write", p);
        if (!f || benchfs_close(f) < 0) die("close", p);
    } else {
        int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        for (long i = 0; fd >= 0 && i < mib; i++)
            if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) die("write", p);
        if (fd < 0 || close(fd) < 0) die("close", p);
    }
    r[3] = mib / (now() - t);
    t = now();
    if (api) {
        benchfs_file_t *f = benchfs_open(ctx, p, O_RDONLY);
        for (long i = 0; f && i < mib; i++)
            if (benchfs_read(f, buf, sizeof buf, (off_t)i << 20) != (ssize_t)sizeof buf) die("read", p);
        if (!f || benchfs_close(f) < 0) die("close", p);
        benchfs_remove(ctx, p);
    } else {
        int fd = open(p, O_RDONLY);
        for (long i = 0; fd >= 0 && i < mib; i++)
            if (read(fd, buf, sizeof buf) != (ssize_t)sizeof buf) die("read", p);
        if (fd < 0 || close(fd) < 0) die("close", p);
        unlink(p);
    }
    r[4] = mib / (now() - t);
    printf("%.0f %.0f %.0f %.0f %.0f\n", r[0], r[1], r[2], r[3], r[4]);
    return 0;
}
