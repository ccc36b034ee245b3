/* More POSIX calls for the interposer, compared with tmpfs by transcript: directory
 * streams, chmod/fchmod, utimensat/futimens, symlink/readlink/link, statfs/statvfs
 * (checked against the kernel's answer through raw system calls), threads, and dup2 of a
 * freshly opened descriptor onto 0, 1 and 2 used by stdio.
 *
 *   more_ops DIR
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

static char base[4096];

static const char *P(const char *name) {
    static char buf[8][4200];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", base, name);
    return buf[i];
}

static void R(const char *what, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", what, strerror(errno));
    else
        printf("%s = %ld\n", what, r);
}

static void mode_of(const char *name) {
    struct stat st;
    if (lstat(P(name), &st) != 0) {
        printf("mode %s: %s\n", name, strerror(errno));
        return;
    }
    printf("mode %s: %o nlink %lu size %lld\n", name, (unsigned)(st.st_mode & 07777), (unsigned long)st.st_nlink,
           S_ISDIR(st.st_mode) ? 0LL : (long long)st.st_size);
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The names of DIR, sorted, with their types; d_ino checked against stat's st_ino. */
static void list(const char *name) {
    DIR *d = opendir(P(name));
    if (!d) {
        printf("opendir %s: %s\n", name, strerror(errno));
        return;
    }
    char *names[64];
    int n = 0, ino_ok = 1;
    struct dirent *e;
    long first = telldir(d);
    while ((e = readdir(d)) && n < 64) {
        char full[4300];
        struct stat st;
        snprintf(full, sizeof full, "%s/%s", name, e->d_name);
        if (strcmp(e->d_name, "..") && lstat(P(full), &st) == 0 && st.st_ino != e->d_ino)
            ino_ok = 0;
        char *s = malloc(300);
        snprintf(s, 300, "%s:%c", e->d_name, e->d_type == DT_DIR ? 'd' : e->d_type == DT_REG ? 'f' : e->d_type == DT_LNK ? 'l' : '?');
        names[n++] = s;
    }
    qsort(names, n, sizeof *names, cmp);
    printf("list %s:", name);
    for (int i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf(" (d_ino %s)\n", ino_ok ? "matches st_ino" : "DIFFERS from st_ino");
    rewinddir(d);
    int again = 0;
    while (readdir(d))
        again++;
    seekdir(d, first);
    int third = 0;
    while (readdir(d))
        third++;
    printf("again %d, after seekdir %d\n", again == n, third == n);
    /* dirfd is a real descriptor of this directory. */
    int fd = dirfd(d);
    struct stat a, b;
    int same = fstat(fd, &a) == 0 && stat(P(name), &b) == 0 && S_ISDIR(a.st_mode);
    int via = openat(fd, "inner", O_RDONLY);
    printf("dirfd is the directory: %d, openat(dirfd, inner): %s\n", same, via >= 0 ? "ok" : strerror(errno));
    if (via >= 0)
        close(via);
    R("closedir", closedir(d));
}

struct job {
    int i;
    long result;
};

static void *worker(void *arg) {
    struct job *j = arg;
    /* Not P(): its rotating buffers are shared by the threads. */
    char path[4200], buf[64], back[64];
    snprintf(path, sizeof path, "%s/t%d", base, j->i);
    snprintf(buf, sizeof buf, "thread %d data", j->i);
    for (int round = 0; round < 20; round++) {
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, buf, strlen(buf)) != (ssize_t)strlen(buf)) {
            j->result = -1;
            return NULL;
        }
        ssize_t n = pread(fd, back, sizeof back, 0);
        struct stat st;
        int fs = fstat(fd, &st);
        if (n != (ssize_t)strlen(buf) || memcmp(back, buf, n) || fs || st.st_size != n || close(fd)) {
            printf("thread %d round %d: pread %zd (want %zu), fstat %d size %lld\n", j->i, round, n,
                    strlen(buf), fs, (long long)st.st_size);
            j->result = -2;
            return NULL;
        }
        if (stat(path, &st) || st.st_size != n) {
            j->result = -3;
            return NULL;
        }
    }
    j->result = unlink(path) == 0 ? 1 : -4;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    snprintf(base, sizeof base, "%s", argv[1]);
    umask(022);
    setvbuf(stdout, NULL, _IONBF, 0);

    R("mkdir d", mkdir(P("d"), 0755));
    R("mkdir d/inner", mkdir(P("d/inner"), 0700));
    int fd = open(P("d/f"), O_WRONLY | O_CREAT, 0644);
    R("write d/f", write(fd, "hello", 5));

    /* chmod family */
    R("fchmod 600", fchmod(fd, 0600));
    mode_of("d/f");
    R("chmod 640", chmod(P("d/f"), 0640));
    mode_of("d/f");
    R("fchmodat 604", fchmodat(AT_FDCWD, P("d/f"), 0604, 0));
    mode_of("d/f");
    R("chmod missing", chmod(P("d/missing"), 0600));

    /* owners (as root): setuid and group-exec setgid go, as Linux clears them for root too */
    R("chmod 6755", chmod(P("d/f"), 06755));
    R("chown", chown(P("d/f"), 1234, 5678));
    struct stat o;
    stat(P("d/f"), &o);
    printf("owner %u:%u mode %o\n", o.st_uid, o.st_gid, (unsigned)(o.st_mode & 07777));
    R("fchown", fchown(fd, 0, -1));
    stat(P("d/f"), &o);
    printf("owner %u:%u mode %o\n", o.st_uid, o.st_gid, (unsigned)(o.st_mode & 07777));
    R("fchownat", fchownat(AT_FDCWD, P("d/f"), -1, 0, 0));
    R("chmod 604", chmod(P("d/f"), 0604));
    R("chown missing", chown(P("d/missing"), 1, 1));

    /* times */
    struct timespec ts[2] = {{1000000000, 5}, {1200000000, 7}};
    R("futimens", futimens(fd, ts));
    R("close", close(fd));
    struct stat st;
    stat(P("d/f"), &st);
    printf("times %ld.%ld %ld.%ld\n", (long)st.st_atime, st.st_atim.tv_nsec, (long)st.st_mtime, st.st_mtim.tv_nsec);
    ts[0].tv_nsec = UTIME_OMIT;
    ts[1].tv_sec = 1300000000;
    R("utimensat", utimensat(AT_FDCWD, P("d/f"), ts, 0));
    stat(P("d/f"), &st);
    printf("times %ld.%ld %ld.%ld\n", (long)st.st_atime, st.st_atim.tv_nsec, (long)st.st_mtime, st.st_mtim.tv_nsec);
    time_t before = time(NULL);
    R("utimensat now", utimensat(AT_FDCWD, P("d/f"), NULL, 0));
    stat(P("d/f"), &st);
    printf("mtime now: %d\n", st.st_mtime >= before && st.st_mtime <= time(NULL) + 1);

    /* links */
    R("symlink", symlink("f", P("d/l")));
    R("symlink exists", symlink("g", P("d/l")));
    char target[64];
    ssize_t n = readlink(P("d/l"), target, sizeof target);
    printf("readlink: %.*s\n", (int)(n > 0 ? n : 0), target);
    R("readlink short", readlink(P("d/l"), target, 0) < 0 ? -1 : readlink(P("d/l"), target, 1));
    R("readlink file", readlink(P("d/f"), target, sizeof target));
    R("lchown link", lchown(P("d/l"), 42, 43));
    struct stat ls_;
    lstat(P("d/l"), &ls_);
    stat(P("d/f"), &st);
    printf("link owner %u:%u, target owner %u:%u\n", ls_.st_uid, ls_.st_gid, st.st_uid, st.st_gid);
    R("link", link(P("d/f"), P("d/hard")));
    mode_of("d/f");
    mode_of("d/hard");
    R("link dir", link(P("d/inner"), P("d/hard2")));
    R("link exists", link(P("d/f"), P("d/hard")));
    R("unlink hard", unlink(P("d/hard")));
    mode_of("d/f");

    /* directory streams */
    list("d");
    list("d/inner");
    int dfd = open(P("d"), O_RDONLY | O_DIRECTORY);
    DIR *dd = fdopendir(dfd);
    int count = 0;
    while (dd && readdir(dd))
        count++;
    printf("fdopendir entries: %d, dirfd kept: %d\n", count, dd && dirfd(dd) == dfd);
    if (dd)
        closedir(dd);
    R("opendir file", opendir(P("d/f")) ? 0 : -1);
    R("opendir missing", opendir(P("d/missing")) ? 0 : -1);

    /* statfs: what the kernel says through raw system calls */
    struct statfs a, k;
    struct statvfs v;
    int r1 = statfs(P("d/f"), &a), r2 = (int)syscall(SYS_statfs, P("d/f"), &k);
    printf("statfs: %d %d type %s bsize %s namelen %s\n", r1, r2, a.f_type == k.f_type ? "same" : "DIFFERENT",
           a.f_bsize == k.f_bsize ? "same" : "DIFFERENT", a.f_namelen == k.f_namelen ? "same" : "DIFFERENT");
    R("statvfs", statvfs(P("d"), &v));
    printf("statvfs namemax %s flags %s\n", v.f_namemax == (unsigned long)k.f_namelen ? "same" : "DIFFERENT",
           (v.f_flag & ST_RDONLY) ? "ro" : "rw");
    fd = open(P("d/f"), O_RDONLY);
    R("fstatfs", fstatfs(fd, &a));
    printf("fstatfs type %s\n", a.f_type == k.f_type ? "same" : "DIFFERENT");
    close(fd);

    /* threads */
    pthread_t th[4];
    struct job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i].i = i;
        pthread_create(&th[i], NULL, worker, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        printf("thread %d: %ld\n", i, jobs[i].result);
    }

    /* dup2 of a fresh descriptor onto 0, 1 and 2, used by stdio */
    int saved[3] = {dup(0), dup(1), dup(2)};
    fd = open(P("d/out"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    printf("to stdout\n");
    fflush(stdout);
    fprintf(stderr, "to stderr\n");
    dup2(saved[1], 1);
    dup2(saved[2], 2);
    fd = open(P("d/out"), O_RDONLY);
    dup2(fd, 0);
    close(fd);
    char line[64] = "";
    char *got1 = fgets(line, sizeof line, stdin);
    printf("stdin line 1: %s", got1 ? line : "(none)\n");
    char *got2 = fgets(line, sizeof line, stdin);
    printf("stdin line 2: %s", got2 ? line : "(none)\n");
    dup2(saved[0], 0);
    for (int i = 0; i < 3; i++)
        close(saved[i]);

    R("unlink out", unlink(P("d/out")));
    R("unlink l", unlink(P("d/l")));
    R("unlink f", unlink(P("d/f")));
    R("rmdir inner", rmdir(P("d/inner")));
    R("rmdir d", rmdir(P("d")));
    return 0;
}
