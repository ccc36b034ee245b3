/* Permission answers for an unprivileged user, to compare the interposer's checks with
 * the kernel's (the plain mount, default_permissions). Run as that user in the mount's
 * root, on a tree the test made as root (see benchfs-fuse/tests/preload.rs):
 *
 *   D/pub 0777, D/ro 0755 with ro/file 0644 and ro/secret 0600, D/closed 0700 with
 *   closed/f, D/sticky 1777 with sticky/rootfile 0666, D/grp 0770 (group G, a
 *   supplementary group of the user) with grp/f 0660, D/sgid 2777 (group G).
 *
 *   perms D
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *base;

static const char *at(const char *name) {
    static char buf[4][1024];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", base, name);
    return buf[i];
}

static void report(const char *op, const char *name, int r) {
    if (r < 0)
        printf("%s %s = %s\n", op, name, strerror(errno));
    else
        printf("%s %s = ok\n", op, name);
}

static void try_open(const char *name, int flags) {
    int fd = open(at(name), flags, 0644);
    char op[32];
    snprintf(op, sizeof op, "open/%s%s%s", (flags & O_ACCMODE) == O_RDONLY ? "r" : (flags & O_ACCMODE) == O_WRONLY ? "w" : "rw",
             flags & O_CREAT ? "+creat" : "", flags & O_TRUNC ? "+trunc" : "");
    report(op, name, fd);
    if (fd >= 0)
        close(fd);
}

static void owner(const char *name) {
    struct stat st;
    if (stat(at(name), &st) == 0)
        printf("owner %s = %u:%u mode %o\n", name, st.st_uid, st.st_gid, (unsigned)(st.st_mode & 07777));
    else
        printf("owner %s = %s\n", name, strerror(errno));
}

int main(int argc, char **argv) {
    struct stat st;
    if (argc != 2)
        return 2;
    base = argv[1];
    umask(022);

    report("stat", "ro/file", stat(at("ro/file"), &st));
    report("stat", "closed/f", stat(at("closed/f"), &st));
    report("stat", "closed/missing", stat(at("closed/missing"), &st));
    report("lstat", "closed/f", lstat(at("closed/f"), &st));
    report("access-r", "ro/file", access(at("ro/file"), R_OK));
    report("access-w", "ro/file", access(at("ro/file"), W_OK));
    report("access-r", "ro/secret", access(at("ro/secret"), R_OK));
    report("access-rw", "grp/f", access(at("grp/f"), R_OK | W_OK));
    report("access-r", "closed/f", access(at("closed/f"), R_OK));

    try_open("ro/file", O_RDONLY);
    try_open("ro/file", O_WRONLY);
    try_open("ro/file", O_RDWR);
    try_open("ro/secret", O_RDONLY);
    try_open("closed/f", O_RDONLY);
    try_open("ro/new", O_WRONLY | O_CREAT);
    try_open("ro/file", O_WRONLY | O_CREAT);
    try_open("ro/file", O_RDONLY | O_CREAT);
    try_open("ro/missing", O_RDONLY);
    try_open("pub/new", O_WRONLY | O_CREAT);
    try_open("pub/new", O_RDWR | O_TRUNC);
    try_open("grp/f", O_RDWR);
    try_open("grp/new", O_WRONLY | O_CREAT);
    try_open("sgid/new", O_WRONLY | O_CREAT);
    owner("pub/new");
    owner("grp/new");
    owner("sgid/new");

    report("chown-own-to-suppl-group", "pub/new", chown(at("pub/new"), -1, 4242));
    report("chown-own-to-other-user", "pub/new", chown(at("pub/new"), 0, -1));
    report("chown-not-own", "ro/file", chown(at("ro/file"), -1, 4242));
    owner("pub/new");
    report("truncate", "ro/file", truncate(at("ro/file"), 0));
    report("truncate", "pub/new", truncate(at("pub/new"), 3));
    report("truncate", "grp/f", truncate(at("grp/f"), 1));

    report("mkdir", "ro/d", mkdir(at("ro/d"), 0755));
    report("mkdir", "ro/file", mkdir(at("ro/file"), 0755));
    report("mkdir", "closed/d", mkdir(at("closed/d"), 0755));
    report("mkdir", "pub/d", mkdir(at("pub/d"), 0755));
    report("mkdir", "sgid/d", mkdir(at("sgid/d"), 0755));
    owner("pub/d");
    owner("sgid/d");

    report("unlink", "ro/file", unlink(at("ro/file")));
    report("unlink", "ro/missing", unlink(at("ro/missing")));
    report("unlink", "closed/f", unlink(at("closed/f")));
    report("unlink", "sticky/rootfile", unlink(at("sticky/rootfile")));
    try_open("sticky/mine", O_WRONLY | O_CREAT);
    report("rename", "sticky/rootfile->sticky/x", rename(at("sticky/rootfile"), at("sticky/x")));
    report("rename", "sticky/mine->sticky/rootfile", rename(at("sticky/mine"), at("sticky/rootfile")));
    report("rename", "sticky/mine->sticky/mine2", rename(at("sticky/mine"), at("sticky/mine2")));
    report("unlink", "sticky/mine2", unlink(at("sticky/mine2")));
    report("rename", "pub/new->ro/x", rename(at("pub/new"), at("ro/x")));
    report("rename", "ro/file->pub/x", rename(at("ro/file"), at("pub/x")));
    report("rename", "pub/new->pub/y", rename(at("pub/new"), at("pub/y")));
    report("rename", "pub/d->grp/d", rename(at("pub/d"), at("grp/d")));
    report("rmdir", "ro/missing", rmdir(at("ro/missing")));
    report("rmdir", "grp/d", rmdir(at("grp/d")));
    report("unlink", "pub/y", unlink(at("pub/y")));
    report("unlink", "grp/new", unlink(at("grp/new")));
    report("unlink", "sgid/new", unlink(at("sgid/new")));
    report("rmdir", "sgid/d", rmdir(at("sgid/d")));
    return 0;
}
