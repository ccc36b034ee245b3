/* links.c - symbolic links and special files through the C API: symlink, readlink,
 * lstat (stat never follows links), mknod of FIFOs, sockets and devices, and what
 * open, rename, readdir and remove do with them.
 * Usage: links SERVERS */
#define _DEFAULT_SOURCE

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "check.h"

struct kinds {
    int n;
    char line[8][48];
};

static int collect(void *arg, const char *name, const struct stat *st) {
    struct kinds *k = arg;
    CHECK(k->n < 8);
    snprintf(k->line[k->n++], sizeof k->line[0], "%s %o", name, (unsigned)(st->st_mode & S_IFMT));
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s SERVERS\n", argv[0]);
        return 2;
    }
    benchfs_context_t *ctx = benchfs_init(argv[1]);
    CHECK(ctx != NULL);
    struct stat st;
    char buf[64];

    CHECK_RC(benchfs_mkdir(ctx, "/l", 0755), 0);
    benchfs_file_t *f = benchfs_create(ctx, "/l/file", O_RDWR, 0644);
    CHECK(f != NULL);
    CHECK_RC(benchfs_close(f), 0);

    /* symlink and readlink: the target as given, no NUL, cut at len. */
    CHECK_RC(benchfs_symlink(ctx, "file", "/l/rel"), 0);
    CHECK_RC(benchfs_symlink(ctx, "/nowhere/at/all", "/l/dangling"), 0);
    CHECK_RC(benchfs_symlink(ctx, "x", "/l/rel"), BENCHFS_EEXIST);
    CHECK_RC(benchfs_symlink(ctx, "", "/l/empty"), BENCHFS_EINVAL);
    CHECK_RC(benchfs_symlink(ctx, NULL, "/l/null"), BENCHFS_EINVAL);
    CHECK_RC(benchfs_symlink(ctx, "x", "/missing/l"), BENCHFS_ENOENT);
    memset(buf, 'Z', sizeof buf);
    CHECK_RC(benchfs_readlink(ctx, "/l/rel", buf, sizeof buf), 4);
    CHECK(memcmp(buf, "fileZ", 5) == 0);
    CHECK_RC(benchfs_readlink(ctx, "/l/dangling", buf, 7), 7);
    CHECK(memcmp(buf, "/nowher", 7) == 0);
    CHECK_RC(benchfs_readlink(ctx, "/l/file", buf, sizeof buf), BENCHFS_EINVAL);
    CHECK_RC(benchfs_readlink(ctx, "/l/rel", buf, 0), BENCHFS_EINVAL);
    CHECK_RC(benchfs_readlink(ctx, "/l/rel", NULL, 8), BENCHFS_EFAULT);
    CHECK_RC(benchfs_readlink(ctx, "/l/none", buf, sizeof buf), BENCHFS_ENOENT);

    /* stat never follows: it is lstat, in the last component and before it. */
    CHECK_RC(benchfs_stat(ctx, "/l/rel", &st), 0);
    CHECK(S_ISLNK(st.st_mode) && st.st_size == 4 && (st.st_mode & 07777) == 0777 && st.st_nlink == 1);
    CHECK_RC(benchfs_lstat(ctx, "/l/dangling", &st), 0);
    CHECK(S_ISLNK(st.st_mode) && st.st_size == 15);
    CHECK_RC(benchfs_symlink(ctx, "/l", "/dirlink"), 0);
    CHECK_RC(benchfs_stat(ctx, "/dirlink/file", &st), BENCHFS_ENOENT);

    /* open refuses links (ELOOP, as O_NOFOLLOW) and leaves them alone. */
    CHECK(benchfs_open(ctx, "/l/rel", O_RDONLY) == NULL && benchfs_errno() == BENCHFS_ELOOP);
    CHECK(benchfs_open(ctx, "/l/rel", O_RDWR | O_CREAT | O_TRUNC) == NULL && benchfs_errno() == BENCHFS_ELOOP);
    CHECK(benchfs_create(ctx, "/l/rel", O_RDWR | O_EXCL, 0644) == NULL && benchfs_errno() == BENCHFS_EEXIST);
    CHECK(benchfs_create(ctx, "/l/rel", O_RDWR, 0644) == NULL && benchfs_errno() == BENCHFS_ELOOP);
    CHECK_RC(benchfs_readlink(ctx, "/l/rel", buf, sizeof buf), 4);
    CHECK_RC(benchfs_truncate(ctx, "/l/rel", 0), BENCHFS_EINVAL);

    /* mknod: FIFOs, sockets, devices as records; S_IFREG makes an empty file. */
    CHECK_RC(benchfs_mknod(ctx, "/l/fifo", S_IFIFO | 0640, 0), 0);
    CHECK_RC(benchfs_mknod(ctx, "/l/sock", S_IFSOCK | 0600, 0), 0);
    CHECK_RC(benchfs_mknod(ctx, "/l/null", S_IFCHR | 0666, makedev(1, 3)), 0);
    CHECK_RC(benchfs_mknod(ctx, "/l/reg", S_IFREG | 0600, 0), 0);
    CHECK_RC(benchfs_mknod(ctx, "/l/fifo", S_IFIFO | 0640, 0), BENCHFS_EEXIST);
    CHECK_RC(benchfs_mknod(ctx, "/l/dir", S_IFDIR | 0755, 0), BENCHFS_EINVAL);
    CHECK_RC(benchfs_mknod(ctx, "/l/lnk", S_IFLNK | 0777, 0), BENCHFS_EINVAL);
    CHECK_RC(benchfs_stat(ctx, "/l/fifo", &st), 0);
    CHECK(S_ISFIFO(st.st_mode) && (st.st_mode & 07777) == 0640 && st.st_size == 0);
    CHECK_RC(benchfs_stat(ctx, "/l/sock", &st), 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK_RC(benchfs_stat(ctx, "/l/null", &st), 0);
    CHECK(S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3);
    CHECK_RC(benchfs_stat(ctx, "/l/reg", &st), 0);
    CHECK(S_ISREG(st.st_mode) && st.st_size == 0 && (st.st_mode & 07777) == 0600);
    /* Opening them is not supported: BenchFS carries no data for them. */
    CHECK(benchfs_open(ctx, "/l/fifo", O_RDONLY) == NULL && benchfs_errno() == BENCHFS_ENOTSUP);
    CHECK(benchfs_open(ctx, "/l/null", O_WRONLY) == NULL && benchfs_errno() == BENCHFS_ENOTSUP);
    CHECK(strstr(benchfs_get_error(), "not supported") != NULL);

    /* readdir reports each type. */
    struct kinds k = {0};
    CHECK_RC(benchfs_readdir(ctx, "/l", collect, &k), 0);
    CHECK(k.n == 7);
    CHECK(strcmp(k.line[0], "dangling 120000") == 0 && strcmp(k.line[1], "fifo 10000") == 0);
    CHECK(strcmp(k.line[2], "file 100000") == 0 && strcmp(k.line[3], "null 20000") == 0);
    CHECK(strcmp(k.line[4], "reg 100000") == 0 && strcmp(k.line[5], "rel 120000") == 0);
    CHECK(strcmp(k.line[6], "sock 140000") == 0);

    /* rename and remove them like files; removing a link leaves its target. */
    CHECK_RC(benchfs_rename(ctx, "/l/rel", "/rel2"), 0);
    CHECK_RC(benchfs_readlink(ctx, "/rel2", buf, sizeof buf), 4);
    CHECK_RC(benchfs_rename(ctx, "/l/fifo", "/l/file"), 0);
    CHECK_RC(benchfs_stat(ctx, "/l/file", &st), 0);
    CHECK(S_ISFIFO(st.st_mode));
    const char *gone[] = {"/rel2", "/dirlink", "/l/dangling", "/l/file", "/l/sock", "/l/null", "/l/reg"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) CHECK_RC(benchfs_remove(ctx, gone[i]), 0);
    CHECK_RC(benchfs_rmdir(ctx, "/l"), 0);

    CHECK_RC(benchfs_finalize(ctx), 0);
    printf("links: ok\n");
    return 0;
}
