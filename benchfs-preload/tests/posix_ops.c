/* The interposer's differential program: one sequence of POSIX calls under the directory
 * argv[1], each result printed as a line ("op = value" or "op = -1 ENAME"). Run under
 * LD_PRELOAD on a BenchFS mount and without it on tmpfs, the two transcripts must match.
 * Nothing that differs between file systems by right (inode numbers, times) is printed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *dir;
static char pbuf[2][4096];

static const char *P(int slot, const char *name) {
    snprintf(pbuf[slot], sizeof pbuf[slot], "%s/%s", dir, name);
    return pbuf[slot];
}

static long R(const char *op, long v) {
    if (v < 0)
        printf("%s = -1 %s\n", op, strerrorname_np(errno));
    else
        printf("%s = %ld\n", op, v);
    fflush(stdout);
    return v;
}

/* A descriptor-returning call: its number is the process's business, not the FS's. */
static int F(const char *op, int fd) {
    if (fd < 0)
        printf("%s = -1 %s\n", op, strerrorname_np(errno));
    else
        printf("%s = fd\n", op);
    fflush(stdout);
    return fd;
}

static void S(const char *op, const char *path) {
    struct stat st;
    if (R(op, stat(path, &st)) == 0)
        printf("  size %lld mode %o type %s nlink %ld\n", (long long)st.st_size, st.st_mode & 07777,
               S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "dir" : "other", (long)st.st_nlink);
}

static unsigned sum(const char *b, long n) {
    unsigned s = 0;
    for (long i = 0; i < n; i++) s = s * 31 + (unsigned char)b[i];
    return s;
}

int main(int argc, char **argv) {
    static char big[300000], back[300000];
    if (argc < 2) return 2;
    dir = argv[1];
    for (long i = 0; i < (long)sizeof big; i++) big[i] = (char)(i * 7 + i / 1000);

    R("mkdir d", mkdir(P(0, "d"), 0755));
    R("mkdir d again", mkdir(P(0, "d"), 0755));
    int fd = F("open d/f creat excl", open(P(0, "d/f"), O_CREAT | O_EXCL | O_WRONLY, 0640));
    R("write 100000", write(fd, big, 100000));
    R("write 200000", write(fd, big + 100000, 200000));
    R("pwrite at 5", pwrite(fd, "XYZ", 3, 5));
    R("lseek cur", lseek(fd, 0, SEEK_CUR));
    R("read on write-only", read(fd, back, 10));
    R("fcntl getfl accmode", fcntl(fd, F_GETFL) & O_ACCMODE);
    R("close", close(fd));
    F("open creat excl again", open(P(0, "d/f"), O_CREAT | O_EXCL | O_WRONLY, 0640));
    S("stat d/f", P(0, "d/f"));
    fd = F("open rdonly", open(P(0, "d/f"), O_RDONLY));
    long n = R("read all", read(fd, back, sizeof back));
    big[5] = 'X', big[6] = 'Y', big[7] = 'Z';
    printf("  same bytes %d sum %u\n", n == 300000 && memcmp(back, big, n) == 0, sum(back, n > 0 ? n : 0));
    R("read at eof", read(fd, back, 10));
    R("pread 4 at 4", pread(fd, back, 4, 4));
    printf("  %.4s\n", back);
    R("lseek end", lseek(fd, 0, SEEK_END));
    R("lseek set 10", lseek(fd, 10, SEEK_SET));
    int fd2 = dup(fd);
    R("dup", fd2 >= 0);
    R("dup shares the offset", lseek(fd2, 0, SEEK_CUR));
    R("write on read-only", write(fd, "a", 1));
    struct stat st;
    R("fstat", fstat(fd, &st));
    printf("  size %lld\n", (long long)st.st_size);
    R("close", close(fd));
    R("close dup", close(fd2));

    fd = F("open append", open(P(0, "d/f"), O_WRONLY | O_APPEND));
    R("append write", write(fd, "tail", 4));
    R("lseek cur after append", lseek(fd, 0, SEEK_CUR));
    R("ftruncate 10", ftruncate(fd, 10));
    struct iovec iov[2] = {{"ab", 2}, {"cde", 3}};
    R("lseek 2", lseek(fd, 2, SEEK_SET));
    R("fcntl setfl no append", fcntl(fd, F_SETFL, 0));
    R("writev", writev(fd, iov, 2));
    R("fsync", fsync(fd));
    R("close", close(fd));
    S("stat after truncate", P(0, "d/f"));
    fd = open(P(0, "d/f"), O_RDONLY);
    char a[4] = {0}, b[8] = {0};
    struct iovec riov[2] = {{a, 3}, {b, 7}};
    R("readv", readv(fd, riov, 2));
    printf("  %.3s|%.7s\n", a, b);
    close(fd);

    R("rename f g", rename(P(0, "d/f"), P(1, "d/g")));
    S("stat f", P(0, "d/f"));
    S("stat g", P(0, "d/g"));
    R("access g R_OK", access(P(0, "d/g"), R_OK));
    R("access missing", access(P(0, "d/missing"), F_OK));
    F("open missing", open(P(0, "d/missing"), O_RDONLY));
    F("open under a file", open(P(0, "d/g/x"), O_RDONLY));
    F("open dir for writing", open(P(0, "d"), O_WRONLY));
    R("rmdir non-empty", rmdir(P(0, "d")));
    R("truncate g 3", truncate(P(0, "d/g"), 3));
    S("stat g", P(0, "d/g"));
    R("unlink g", unlink(P(0, "d/g")));
    R("unlink g again", unlink(P(0, "d/g")));

    /* A child writes through a descriptor it inherited; the parent's offset follows. */
    fd = F("creat h", creat(P(0, "d/h"), 0600));
    R("write parent", write(fd, "parent\n", 7));
    pid_t pid = fork();
    if (pid == 0) {
        _exit(write(fd, "child\n", 6) == 6 ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    R("child exit", WEXITSTATUS(status));
    R("write after child", write(fd, "again\n", 6));
    int saved = dup(1);
    int onto = dup2(fd, 1);
    printf("via stdout\n");
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    R("dup2 onto 1", onto);
    R("close", close(fd));
    fd = open(P(0, "d/h"), O_RDONLY);
    n = read(fd, back, sizeof back);
    close(fd);
    printf("h holds: %.*s", (int)(n > 0 ? n : 0), back);
    R("unlink h", unlink(P(0, "d/h")));
    R("rmdir d", rmdir(P(0, "d")));
    S("stat d", P(0, "d"));
    return 0;
}
