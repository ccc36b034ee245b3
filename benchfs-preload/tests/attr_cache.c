/* The interposer's attribute cache keeps close-to-open and this process's own changes:
 * every stat below follows a change that must drop or refresh what an earlier stat of
 * the same path stored. Run under the interposer with a long BENCHFS_ATTR_TIMEOUT (so
 * nothing expires by itself) and compared with the same run on tmpfs.
 *
 *   attr_cache DIR
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[4096];

static const char *at(const char *name) {
    static char buf[2][4200];
    static int i;
    i ^= 1;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

static void show(const char *step, const char *name) {
    struct stat st;
    if (stat(at(name), &st) == 0)
        printf("%s: %s %s size %lld mode %o\n", step, name, S_ISDIR(st.st_mode) ? "dir" : "file",
               S_ISDIR(st.st_mode) ? 0LL : (long long)st.st_size, (unsigned)(st.st_mode & 07777));
    else
        printf("%s: %s %s\n", step, name, strerror(errno));
}

static void put(const char *name, const char *s, int flags) {
    int fd = open(at(name), O_WRONLY | O_CREAT | flags, 0644);
    if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s) || close(fd) != 0) {
        perror(name);
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    snprintf(dir, sizeof dir, "%s", argv[1]);
    umask(022);

    /* A create stores the new record; the writes and the close drop it. */
    int fd = open(at("f"), O_WRONLY | O_CREAT | O_EXCL, 0644);
    show("created", "f");
    if (write(fd, "abc", 3) != 3)
        return 1;
    show("written, open", "f");
    close(fd);
    show("closed", "f");
    put("f", "defg", O_APPEND);
    show("appended", "f");

    /* truncate, ftruncate. */
    truncate(at("f"), 1);
    show("truncated", "f");
    fd = open(at("f"), O_RDWR);
    show("opened", "f");
    ftruncate(fd, 5);
    show("ftruncated, open", "f");
    close(fd);
    show("ftruncated", "f");

    /* rename, unlink, and what was below a renamed directory. */
    rename(at("f"), at("g"));
    show("renamed from", "f");
    show("renamed to", "g");
    put("h", "0123456789", 0);
    show("before rename over", "h");
    rename(at("g"), at("h"));
    show("renamed over", "h");
    unlink(at("h"));
    show("unlinked", "h");
    mkdir(at("d"), 0750);
    show("mkdir", "d");
    put("d/x", "xx", 0);
    show("in d", "d/x");
    rename(at("d"), at("e"));
    show("below old name", "d/x");
    show("below new name", "e/x");
    unlink(at("e/x"));
    rmdir(at("e"));
    show("rmdir", "e");
    show("rmdir, below", "e/x");

    /* Another writer, through the plain mount: an open revalidates. */
    put("o", "x", 0);
    show("before the other writer", "o");
    setenv("OTHER", at("o"), 1);
    if (system("env -u LD_PRELOAD sh -c 'printf hello-there > \"$OTHER\"'") != 0)
        return 1;
    fd = open(at("o"), O_RDONLY);
    close(fd);
    show("after an open", "o");
    unlink(at("o"));
    return 0;
}
