/* basic.c - one thread walks the whole C API against a running cluster: file I/O,
 * namespace calls, error codes, NULL arguments.
 * Usage: basic SERVERS (a fresh cluster's "host:port,..." list or "registry:DIR"). */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "check.h"

#define SEED 7
/* Spans several chunks and ends mid-chunk. */
#define BIG (3u * 1024 * 1024 + 123)

/* What a readdir callback saw. */
struct listing {
    int n;
    int stop_after; /* return 7 after this many entries (0: never) */
    char names[8][32];
    struct stat st[8];
};

static int collect(void *arg, const char *name, const struct stat *st) {
    struct listing *l = arg;
    CHECK(l->n < 8 && strlen(name) < sizeof l->names[0]);
    strcpy(l->names[l->n], name);
    l->st[l->n] = *st;
    l->n++;
    return l->stop_after && l->n >= l->stop_after ? 7 : 0;
}

/* Servers in a "host:port,..." list; 0 for "registry:DIR" (not known here). */
static int count_servers(const char *spec) {
    if (strncmp(spec, "registry:", 9) == 0) return 0;
    int n = 1;
    for (const char *p = spec; *p; p++) n += *p == ',';
    return n;
}

/* Every pointer argument, NULL in turn: an error code, never a crash. */
static void null_arguments(benchfs_context_t *ctx) {
    char buf[16] = {0};
    struct stat st;
    struct statvfs sv;
    struct listing l = {0};

    CHECK(benchfs_create(NULL, "/n", O_RDWR, 0644) == NULL && benchfs_errno() == BENCHFS_EINVAL);
    CHECK(benchfs_create(ctx, NULL, O_RDWR, 0644) == NULL && benchfs_errno() == BENCHFS_EINVAL);
    CHECK(benchfs_open(NULL, "/n", O_RDONLY) == NULL && benchfs_errno() == BENCHFS_EINVAL);
    CHECK(benchfs_open(ctx, NULL, O_RDONLY) == NULL && benchfs_errno() == BENCHFS_EINVAL);
    CHECK(benchfs_open(ctx, "relative", O_RDONLY) == NULL && benchfs_errno() == BENCHFS_EINVAL);

    benchfs_file_t *f = benchfs_create(ctx, "/null-probe", O_RDWR, 0644);
    CHECK(f != NULL);
    CHECK_RC(benchfs_write(NULL, buf, 1, 0), BENCHFS_EINVAL);
    CHECK_RC(benchfs_write(f, NULL, 1, 0), BENCHFS_EFAULT);
    CHECK_RC(benchfs_write(f, buf, 1, -1), BENCHFS_EINVAL);
    CHECK_RC(benchfs_read(NULL, buf, 1, 0), BENCHFS_EINVAL);
    CHECK_RC(benchfs_read(f, NULL, 1, 0), BENCHFS_EFAULT);
    CHECK_RC(benchfs_read(f, buf, 1, -1), BENCHFS_EINVAL);
    CHECK_RC(benchfs_fsync(NULL), BENCHFS_EINVAL);
    CHECK_RC(benchfs_file_size(NULL), BENCHFS_EINVAL);
    /* Past the largest off_t: EFBIG, as write(2) gives. */
    CHECK_RC(benchfs_write(f, buf, 1, INT64_MAX), BENCHFS_EFBIG);
    CHECK_RC(benchfs_write(f, buf, 2, INT64_MAX - 1), BENCHFS_EFBIG);
    CHECK_RC(benchfs_close(f), 0);

    /* A closed handle is EBADF everywhere, a second close included; a handle opened
     * since (which may reuse its slot) is not disturbed by the stale one. */
    benchfs_file_t *g = benchfs_open(ctx, "/null-probe", O_RDWR);
    CHECK(g != NULL);
    CHECK_RC(benchfs_close(f), BENCHFS_EBADF);
    CHECK(strstr(benchfs_get_error(), "closed") != NULL);
    CHECK_RC(benchfs_write(f, buf, 1, 0), BENCHFS_EBADF);
    CHECK_RC(benchfs_read(f, buf, 1, 0), BENCHFS_EBADF);
    CHECK_RC(benchfs_fsync(f), BENCHFS_EBADF);
    CHECK_RC(benchfs_file_size(f), BENCHFS_EBADF);
    CHECK_RC(benchfs_write(g, buf, 1, 0), 1);
    CHECK_RC(benchfs_close(g), 0);
    CHECK_RC(benchfs_close(g), BENCHFS_EBADF);
    CHECK_RC(benchfs_read(g, buf, 1, 0), BENCHFS_EBADF);

    CHECK_RC(benchfs_server_count(NULL), BENCHFS_EINVAL);
    CHECK_RC(benchfs_stat(NULL, "/", &st), BENCHFS_EINVAL);
    CHECK_RC(benchfs_stat(ctx, NULL, &st), BENCHFS_EINVAL);
    CHECK_RC(benchfs_stat(ctx, "/", NULL), BENCHFS_EFAULT);
    CHECK_RC(benchfs_get_file_size(NULL, "/null-probe"), BENCHFS_EINVAL);
    CHECK_RC(benchfs_get_file_size(ctx, NULL), BENCHFS_EINVAL);
    CHECK_RC(benchfs_remove(NULL, "/null-probe"), BENCHFS_EINVAL);
    CHECK_RC(benchfs_remove(ctx, NULL), BENCHFS_EINVAL);
    CHECK_RC(benchfs_mkdir(NULL, "/n", 0755), BENCHFS_EINVAL);
    CHECK_RC(benchfs_mkdir(ctx, NULL, 0755), BENCHFS_EINVAL);
    CHECK_RC(benchfs_rmdir(NULL, "/n"), BENCHFS_EINVAL);
    CHECK_RC(benchfs_rmdir(ctx, NULL), BENCHFS_EINVAL);
    CHECK_RC(benchfs_rename(NULL, "/a", "/b"), BENCHFS_EINVAL);
    CHECK_RC(benchfs_rename(ctx, NULL, "/b"), BENCHFS_EINVAL);
    CHECK_RC(benchfs_rename(ctx, "/a", NULL), BENCHFS_EINVAL);
    CHECK_RC(benchfs_truncate(NULL, "/null-probe", 0), BENCHFS_EINVAL);
    CHECK_RC(benchfs_truncate(ctx, NULL, 0), BENCHFS_EINVAL);
    CHECK_RC(benchfs_truncate(ctx, "/null-probe", -1), BENCHFS_EINVAL);
    CHECK_RC(benchfs_access(NULL, "/", F_OK), BENCHFS_EINVAL);
    CHECK_RC(benchfs_access(ctx, NULL, F_OK), BENCHFS_EINVAL);
    CHECK_RC(benchfs_chmod(NULL, "/null-probe", 0600), BENCHFS_EINVAL);
    CHECK_RC(benchfs_chmod(ctx, NULL, 0600), BENCHFS_EINVAL);
    CHECK_RC(benchfs_readdir(NULL, "/", collect, &l), BENCHFS_EINVAL);
    CHECK_RC(benchfs_readdir(ctx, NULL, collect, &l), BENCHFS_EINVAL);
    CHECK_RC(benchfs_readdir(ctx, "/", NULL, &l), BENCHFS_EINVAL);
    CHECK_RC(benchfs_statfs(NULL, &sv), BENCHFS_EINVAL);
    CHECK_RC(benchfs_statfs(ctx, NULL), BENCHFS_EFAULT);
    CHECK_RC(benchfs_remove(ctx, "/null-probe"), 0);
}

static void write_read_stat(benchfs_context_t *ctx) {
    unsigned char *data = malloc(BIG), *back = malloc(BIG);
    CHECK(data && back);
    pattern_fill(data, BIG, SEED, 0);

    CHECK_RC(benchfs_mkdir(ctx, "/basic", 0755), 0);
    CHECK_RC(benchfs_mkdir(ctx, "/basic", 0755), BENCHFS_EEXIST);
    CHECK_RC(benchfs_mkdir(ctx, "/missing/sub", 0755), BENCHFS_ENOENT);

    benchfs_file_t *f = benchfs_create(ctx, "/basic/f", O_RDWR | O_EXCL, 0640);
    CHECK(f != NULL);
    CHECK(benchfs_create(ctx, "/basic/f", O_RDWR | O_EXCL, 0640) == NULL);
    CHECK_RC(benchfs_errno(), BENCHFS_EEXIST);
    CHECK(strstr(benchfs_get_error(), "/basic/f") != NULL);
    /* Out of order and in uneven pieces: the first write starts mid-file. */
    size_t half = BIG / 2;
    CHECK_RC(benchfs_write(f, data + half, BIG - half, (off_t)half), BIG - half);
    CHECK_RC(benchfs_file_size(f), BIG);
    CHECK_RC(benchfs_write(f, data, half, 0), half);
    CHECK_RC(benchfs_read(f, back, BIG, 0), BIG);
    CHECK(pattern_mismatch(back, BIG, SEED, 0) == -1);
    CHECK_RC(benchfs_read(f, back, 100, BIG - 10), 10);
    CHECK_RC(benchfs_read(f, back, 100, BIG), 0);
    CHECK_RC(benchfs_fsync(f), 0);
    CHECK_RC(benchfs_close(f), 0);

    struct stat st;
    CHECK_RC(benchfs_stat(ctx, "/basic/f", &st), 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK_RC(st.st_mode & 07777, 0640);
    CHECK_RC(st.st_size, BIG);
    CHECK_RC(st.st_nlink, 1);
    CHECK_RC(st.st_blocks, (BIG + 4095) / 4096 * 8); /* whole 4 KiB blocks written */
    CHECK(st.st_blksize >= 4096);
    CHECK_RC(st.st_uid, getuid());
    CHECK_RC(st.st_gid, getgid());
    CHECK(st.st_ino != 0 && st.st_mtime > 0 && st.st_ctime > 0);
    CHECK_RC(benchfs_get_file_size(ctx, "/basic/f"), BIG);
    CHECK_RC(benchfs_stat(ctx, "/basic//./f", &st), 0); /* not canonical: same file */
    CHECK_RC(benchfs_stat(ctx, "/basic//f/", &st), BENCHFS_ENOTDIR); /* a file is no directory */
    CHECK_RC(benchfs_stat(ctx, "/basic/nope", &st), BENCHFS_ENOENT);
    CHECK_RC(benchfs_get_file_size(ctx, "/basic/nope"), BENCHFS_ENOENT);

    struct stat dst;
    CHECK_RC(benchfs_stat(ctx, "/basic", &dst), 0);
    CHECK(S_ISDIR(dst.st_mode));
    CHECK_RC(dst.st_nlink, 2);
    CHECK(dst.st_ino != 0 && dst.st_ino != st.st_ino);
    CHECK_RC(benchfs_stat(ctx, "/", &dst), 0);
    CHECK(S_ISDIR(dst.st_mode));

    struct statvfs sv;
    CHECK_RC(benchfs_statfs(ctx, &sv), 0);
    CHECK(sv.f_bsize == 4096 && sv.f_blocks > 0 && sv.f_bavail <= sv.f_blocks && sv.f_namemax == 255);

    CHECK_RC(benchfs_access(ctx, "/basic/f", F_OK), 0);
    CHECK_RC(benchfs_access(ctx, "/basic/f", R_OK | W_OK), 0);
    CHECK_RC(benchfs_access(ctx, "/basic/nope", F_OK), BENCHFS_ENOENT);
    CHECK_RC(benchfs_chmod(ctx, "/basic/f", 0600), 0);
    CHECK_RC(benchfs_stat(ctx, "/basic/f", &st), 0);
    CHECK_RC(st.st_mode, S_IFREG | 0600);

    /* A read-only handle sees the data and refuses writes. */
    f = benchfs_open(ctx, "/basic/f", O_RDONLY);
    CHECK(f != NULL);
    CHECK_RC(benchfs_file_size(f), BIG);
    memset(back, 0, BIG);
    CHECK_RC(benchfs_read(f, back, BIG, 0), BIG);
    CHECK(pattern_mismatch(back, BIG, SEED, 0) == -1);
    CHECK_RC(benchfs_write(f, data, 1, 0), BENCHFS_EACCES);
    CHECK_RC(benchfs_close(f), 0);
    free(data);
    free(back);
}

static void open_flags(benchfs_context_t *ctx) {
    CHECK(benchfs_open(ctx, "/basic/g", O_RDWR) == NULL);
    CHECK_RC(benchfs_errno(), BENCHFS_ENOENT);
    benchfs_file_t *g = benchfs_open(ctx, "/basic/g", O_RDWR | O_CREAT);
    CHECK(g != NULL);
    CHECK_RC(benchfs_write(g, "hello", 5, 0), 5);
    CHECK_RC(benchfs_close(g), 0);
    CHECK(benchfs_open(ctx, "/basic/g", O_RDWR | O_CREAT | O_EXCL) == NULL);
    CHECK_RC(benchfs_errno(), BENCHFS_EEXIST);
    CHECK(benchfs_open(ctx, "/basic", O_RDONLY) == NULL);
    CHECK_RC(benchfs_errno(), BENCHFS_EISDIR);
    struct stat st;
    CHECK_RC(benchfs_stat(ctx, "/basic/g", &st), 0);
    CHECK_RC(st.st_mode & 0777, 0644);
    CHECK_RC(st.st_size, 5);
    /* O_TRUNC empties an existing file. */
    g = benchfs_open(ctx, "/basic/g", O_WRONLY | O_TRUNC);
    CHECK(g != NULL);
    CHECK_RC(benchfs_file_size(g), 0);
    CHECK_RC(benchfs_close(g), 0);
    CHECK_RC(benchfs_get_file_size(ctx, "/basic/g"), 0);
    CHECK_RC(benchfs_mkdir(ctx, "/basic/d", 0750), 0);
}

static void listing(benchfs_context_t *ctx) {
    struct listing l = {0};
    CHECK_RC(benchfs_readdir(ctx, "/basic", collect, &l), 0);
    CHECK_RC(l.n, 3);
    CHECK(strcmp(l.names[0], "d") == 0 && strcmp(l.names[1], "f") == 0 && strcmp(l.names[2], "g") == 0);
    CHECK(S_ISDIR(l.st[0].st_mode) && S_ISREG(l.st[1].st_mode) && S_ISREG(l.st[2].st_mode));
    CHECK_RC(l.st[0].st_mode & 07777, 0750);
    CHECK_RC(l.st[1].st_size, BIG);
    struct stat st;
    CHECK_RC(benchfs_stat(ctx, "/basic/f", &st), 0);
    CHECK_RC(l.st[1].st_ino, st.st_ino);
    CHECK_RC(benchfs_stat(ctx, "/basic/d", &st), 0);
    CHECK_RC(l.st[0].st_ino, st.st_ino);

    struct listing stop = {.stop_after = 2};
    CHECK_RC(benchfs_readdir(ctx, "/basic", collect, &stop), 7);
    CHECK_RC(stop.n, 2);
    struct listing empty = {0};
    CHECK_RC(benchfs_readdir(ctx, "/basic/d", collect, &empty), 0);
    CHECK_RC(empty.n, 0);
    CHECK_RC(benchfs_readdir(ctx, "/basic/f", collect, &empty), BENCHFS_ENOTDIR);
    CHECK_RC(benchfs_readdir(ctx, "/basic/nope", collect, &empty), BENCHFS_ENOENT);
}

static void rename_truncate_remove(benchfs_context_t *ctx) {
    struct stat before, st;
    CHECK_RC(benchfs_stat(ctx, "/basic/f", &before), 0);
    CHECK_RC(benchfs_rename(ctx, "/basic/f", "/basic/d/h"), 0);
    CHECK_RC(benchfs_stat(ctx, "/basic/f", &st), BENCHFS_ENOENT);
    CHECK_RC(benchfs_stat(ctx, "/basic/d/h", &st), 0);
    CHECK_RC(st.st_ino, before.st_ino);
    CHECK_RC(st.st_size, BIG);
    CHECK_RC(benchfs_rename(ctx, "/basic/nope", "/basic/x"), BENCHFS_ENOENT);
    CHECK_RC(benchfs_rename(ctx, "/basic/g", "/basic/d"), BENCHFS_EISDIR);

    /* Shrink, then grow: the tail reads as zeros, the head keeps its data. */
    CHECK_RC(benchfs_truncate(ctx, "/basic/d/h", 1000), 0);
    CHECK_RC(benchfs_get_file_size(ctx, "/basic/d/h"), 1000);
    CHECK_RC(benchfs_truncate(ctx, "/basic/d/h", 5000), 0);
    unsigned char buf[6000];
    benchfs_file_t *h = benchfs_open(ctx, "/basic/d/h", O_RDONLY);
    CHECK(h != NULL);
    CHECK_RC(benchfs_read(h, buf, sizeof buf, 0), 5000);
    CHECK(pattern_mismatch(buf, 1000, SEED, 0) == -1);
    for (int i = 1000; i < 5000; i++) CHECK(buf[i] == 0);
    CHECK_RC(benchfs_close(h), 0);
    CHECK_RC(benchfs_truncate(ctx, "/basic/d", 0), BENCHFS_EISDIR);
    CHECK_RC(benchfs_truncate(ctx, "/basic/nope", 0), BENCHFS_ENOENT);

    CHECK_RC(benchfs_rmdir(ctx, "/basic/d"), BENCHFS_ENOTEMPTY);
    CHECK_RC(benchfs_rmdir(ctx, "/basic/g"), BENCHFS_ENOTDIR);
    CHECK_RC(benchfs_remove(ctx, "/basic/d"), BENCHFS_EISDIR);
    CHECK_RC(benchfs_remove(ctx, "/basic/d/h"), 0);
    CHECK_RC(benchfs_remove(ctx, "/basic/d/h"), BENCHFS_ENOENT);
    CHECK_RC(benchfs_stat(ctx, "/basic/d/h", &st), BENCHFS_ENOENT);
    CHECK_RC(benchfs_rmdir(ctx, "/basic/d"), 0);
    CHECK_RC(benchfs_remove(ctx, "/basic/g"), 0);
    CHECK_RC(benchfs_rmdir(ctx, "/basic"), 0);
    CHECK_RC(benchfs_stat(ctx, "/basic", &st), BENCHFS_ENOENT);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s SERVERS\n", argv[0]);
        return 2;
    }
    const char *servers = argv[1];

    /* Before anything failed, and calls that need no cluster. */
    CHECK(benchfs_get_error() != NULL && benchfs_get_error()[0] == '\0');
    CHECK_RC(benchfs_errno(), 0);
    CHECK(benchfs_version() != NULL && benchfs_version()[0] != '\0');
    CHECK_RC(benchfs_finalize(NULL), BENCHFS_EINVAL);
    CHECK_RC(benchfs_errno(), BENCHFS_EINVAL);
    CHECK(benchfs_get_error()[0] != '\0');
    CHECK_RC(benchfs_close(NULL), BENCHFS_EINVAL);

    /* benchfs_init(NULL) reads the environment. */
    unsetenv("BENCHFS_SERVERS");
    unsetenv("BENCHFS_REGISTRY");
    CHECK(benchfs_init(NULL) == NULL);
    CHECK_RC(benchfs_errno(), BENCHFS_EINVAL);
    CHECK(benchfs_init("127.0.0.1:1") == NULL); /* nobody listens on port 1 */
    CHECK(benchfs_errno() == BENCHFS_EIO || benchfs_errno() == BENCHFS_ENOTCONN);
    /* A spec that is no address list is refused before any connection attempt. */
    CHECK(benchfs_init("garbage") == NULL);
    CHECK_RC(benchfs_errno(), BENCHFS_EINVAL);
    CHECK(benchfs_init("127.0.0.1:notaport") == NULL);
    CHECK_RC(benchfs_errno(), BENCHFS_EINVAL);
    CHECK(setenv("BENCHFS_SERVERS", servers, 1) == 0);
    benchfs_context_t *ctx = benchfs_init(NULL);
    CHECK(ctx != NULL);
    if (count_servers(servers))
        CHECK_RC(benchfs_server_count(ctx), count_servers(servers));
    else
        CHECK(benchfs_server_count(ctx) > 0);
    CHECK_RC(benchfs_finalize(ctx), 0);

    ctx = benchfs_init(servers);
    CHECK(ctx != NULL);
    null_arguments(ctx);
    write_read_stat(ctx);
    open_flags(ctx);
    listing(ctx);
    rename_truncate_remove(ctx);
    CHECK_RC(benchfs_finalize(ctx), 0);
    printf("basic: ok\n");
    return 0;
}
