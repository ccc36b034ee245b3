/* paths.c - path arguments the kernel would read by walking them: ".." after a file or a
 * link is no lexical text to cancel (refused: EINVAL), and a trailing "/" names only a
 * directory (ENOTDIR for anything else), for stat, create, open, remove and rename.
 * Usage: paths SERVERS */
#define _DEFAULT_SOURCE

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "check.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s SERVERS\n", argv[0]);
        return 2;
    }
    benchfs_context_t *ctx = benchfs_init(argv[1]);
    CHECK(ctx != NULL);
    struct stat st;

    CHECK_RC(benchfs_mkdir(ctx, "/P", 0755), 0);
    CHECK_RC(benchfs_mkdir(ctx, "/P/a", 0755), 0);
    benchfs_file_t *f = benchfs_create(ctx, "/P/a/file", O_RDWR, 0644);
    CHECK(f != NULL);
    CHECK_RC(benchfs_close(f), 0);
    CHECK_RC(benchfs_symlink(ctx, "/P", "/P/a/link"), 0);

    /* "file/.." is not "/P/a": nothing moves, nothing is removed. */
    CHECK_RC(benchfs_rename(ctx, "/P/a/file/..", "/P/x"), BENCHFS_EINVAL);
    CHECK_RC(benchfs_rename(ctx, "/P/a/link/..", "/P/x"), BENCHFS_EINVAL);
    CHECK_RC(benchfs_rename(ctx, "/P/a", "/P/a/file/../y"), BENCHFS_EINVAL);
    CHECK_RC(benchfs_rmdir(ctx, "/P/a/file/.."), BENCHFS_EINVAL);
    CHECK_RC(benchfs_stat(ctx, "/P/a/file/..", &st), BENCHFS_EINVAL);
    CHECK(benchfs_create(ctx, "/P/a/file/../new", O_RDWR, 0644) == NULL && benchfs_errno() == BENCHFS_EINVAL);
    CHECK_RC(benchfs_stat(ctx, "/P/a", &st), 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK_RC(benchfs_stat(ctx, "/P/x", &st), BENCHFS_ENOENT);
    CHECK_RC(benchfs_stat(ctx, "/P/a/new", &st), BENCHFS_ENOENT);

    /* A trailing "/" on a file (or a link) is ENOTDIR; on a directory it is fine. */
    CHECK_RC(benchfs_stat(ctx, "/P/a/file/", &st), BENCHFS_ENOTDIR);
    CHECK_RC(benchfs_stat(ctx, "/P/a/link/", &st), BENCHFS_ENOTDIR);
    CHECK_RC(benchfs_stat(ctx, "/P/a/file/.", &st), BENCHFS_ENOTDIR);
    CHECK_RC(benchfs_stat(ctx, "/P/a/", &st), 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK(benchfs_create(ctx, "/P/a/file/", O_RDWR, 0644) == NULL && benchfs_errno() == BENCHFS_ENOTDIR);
    CHECK(benchfs_open(ctx, "/P/a/file/", O_RDONLY) == NULL && benchfs_errno() == BENCHFS_ENOTDIR);
    CHECK(benchfs_create(ctx, "/P/a/fresh/", O_RDWR, 0644) == NULL && benchfs_errno() == BENCHFS_EISDIR);
    CHECK_RC(benchfs_stat(ctx, "/P/a/fresh", &st), BENCHFS_ENOENT);
    CHECK_RC(benchfs_remove(ctx, "/P/a/file/"), BENCHFS_ENOTDIR);
    CHECK_RC(benchfs_rename(ctx, "/P/a/file/", "/P/y"), BENCHFS_ENOTDIR);
    CHECK_RC(benchfs_rename(ctx, "/P/a/file", "/P/y/"), BENCHFS_ENOTDIR);
    CHECK_RC(benchfs_truncate(ctx, "/P/a/file/", 0), BENCHFS_ENOTDIR);
    CHECK_RC(benchfs_stat(ctx, "/P/a/file", &st), 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK_RC(benchfs_stat(ctx, "/P/y", &st), BENCHFS_ENOENT);
    /* Directories take the slash: mkdir, rename and rmdir. */
    CHECK_RC(benchfs_mkdir(ctx, "/P/d/", 0755), 0);
    CHECK_RC(benchfs_rename(ctx, "/P/d/", "/P/e/"), 0);
    CHECK_RC(benchfs_rmdir(ctx, "/P/e/"), 0);

    const char *gone[] = {"/P/a/file", "/P/a/link"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) CHECK_RC(benchfs_remove(ctx, gone[i]), 0);
    CHECK_RC(benchfs_rmdir(ctx, "/P/a"), 0);
    CHECK_RC(benchfs_rmdir(ctx, "/P"), 0);
    CHECK_RC(benchfs_finalize(ctx), 0);
    printf("paths: ok\n");
    return 0;
}
