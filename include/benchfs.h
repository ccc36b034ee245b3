/*
 * benchfs.h - C API of BenchFS, an ad hoc distributed file system for HPC jobs.
 *
 * Link with `pkg-config --cflags --libs benchfs` (shared, with an rpath) or with
 * `pkg-config --static --cflags --libs benchfs`, which adds the system libraries
 * libbenchfs.a needs; the linker takes the archive where no libbenchfs.so lies
 * beside it (`scripts/install.sh --no-shared PREFIX` installs such a prefix).
 *
 * Conventions:
 *  - Functions returning int/ssize_t/int64_t return >= 0 on success and a
 *    negative BENCHFS_E* code on failure. Each code is the negated errno value
 *    (BENCHFS_ENOENT == -ENOENT), so a caller can write `errno = -rc`.
 *  - Functions returning a pointer return NULL on failure; benchfs_errno()
 *    gives the code and benchfs_get_error() the message.
 *  - benchfs_get_error() and benchfs_errno() describe the last failed call of
 *    the calling thread.
 *  - All calls are thread-safe: many threads may use one context and even one
 *    file handle at once (reads and writes take an explicit offset).
 *  - Every pointer argument is checked: NULL gives BENCHFS_EINVAL (or
 *    BENCHFS_EFAULT for data buffers and output structs), never a crash.
 *  - A file handle used after benchfs_close() (a second close included) gives
 *    BENCHFS_EBADF, never a crash. Using a context after benchfs_finalize() is
 *    undefined. benchfs_finalize(NULL) and benchfs_close(NULL) are safe no-ops
 *    that return BENCHFS_EINVAL.
 *  - Paths are absolute within the BenchFS namespace ("/dir/file"). Empty and "."
 *    components are dropped. A ".." component is refused with BENCHFS_EINVAL:
 *    BenchFS looks a path up whole, so it cannot tell whether what precedes ".."
 *    is a directory (the kernel gives ENOTDIR after a file or a link). A trailing
 *    "/" (or "/.") names a directory only: on a file, link or special file the call
 *    fails with BENCHFS_ENOTDIR (stat, open, create, remove, rename, truncate, ...),
 *    and benchfs_create of a new "name/" with BENCHFS_EISDIR, as open(2) does.
 *  - I/O runs on one runtime per process. By default the calling threads drive it
 *    themselves (lowest cost per call); BENCHFS_RUNTIME_THREADS=N (N > 0), read at
 *    the first call, gives it N worker threads instead.
 */
#ifndef BENCHFS_H
#define BENCHFS_H

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BENCHFS_API_VERSION 1

/* Error codes: negated errno values. */
#define BENCHFS_OK 0
#define BENCHFS_EPERM (-EPERM)
#define BENCHFS_ENOENT (-ENOENT)
#define BENCHFS_EIO (-EIO)
#define BENCHFS_EBADF (-EBADF)
#define BENCHFS_ENOMEM (-ENOMEM)
#define BENCHFS_EACCES (-EACCES)
#define BENCHFS_EFAULT (-EFAULT)
#define BENCHFS_EEXIST (-EEXIST)
#define BENCHFS_EXDEV (-EXDEV)
#define BENCHFS_ENOTDIR (-ENOTDIR)
#define BENCHFS_EISDIR (-EISDIR)
#define BENCHFS_EINVAL (-EINVAL)
#define BENCHFS_EFBIG (-EFBIG)
#define BENCHFS_ENOSPC (-ENOSPC)
#define BENCHFS_ENAMETOOLONG (-ENAMETOOLONG)
#define BENCHFS_ENOTEMPTY (-ENOTEMPTY)
#define BENCHFS_ENOTSUP (-ENOTSUP)
#define BENCHFS_ENOTCONN (-ENOTCONN)
#define BENCHFS_ETIMEDOUT (-ETIMEDOUT)
#define BENCHFS_ECONNREFUSED (-ECONNREFUSED)
#define BENCHFS_EPROTO (-EPROTO)
#define BENCHFS_ELOOP (-ELOOP)
#define BENCHFS_ESTALE (-ESTALE)

typedef struct benchfs_context benchfs_context_t;
typedef struct benchfs_file benchfs_file_t;

/* Callback of benchfs_readdir: called once per entry (without "." and "..").
 * Return 0 to continue, non-zero to stop early (benchfs_readdir then returns
 * that value if positive, or 0). */
typedef int (*benchfs_readdir_fn)(void *arg, const char *name, const struct stat *st);

/* Connects to a cluster. `servers` is "host:port,host:port" or "registry:DIR";
 * NULL or "" reads BENCHFS_SERVERS, then BENCHFS_REGISTRY from the environment.
 * BENCHFS_TIMEOUT, BENCHFS_CHUNK_SIZE and BENCHFS_SECRET_FILE apply in every case.
 * Every server must be reachable. Returns NULL on failure. */
benchfs_context_t *benchfs_init(const char *servers);

/* Closes all connections and frees the context. */
int benchfs_finalize(benchfs_context_t *ctx);

/* Number of servers in the cluster the context is connected to. */
int benchfs_server_count(const benchfs_context_t *ctx);

/* Creates (and opens) a regular file. `flags` are open(2) flags: O_RDONLY,
 * O_WRONLY, O_RDWR, O_EXCL, O_TRUNC (O_CREAT is implied). */
benchfs_file_t *benchfs_create(benchfs_context_t *ctx, const char *path, int flags, mode_t mode);

/* Opens an existing regular file; honours O_CREAT (mode 0644), O_EXCL, O_TRUNC.
 * BenchFS never follows symbolic links: opening one is BENCHFS_ELOOP (as open(2)
 * with O_NOFOLLOW). Opening a FIFO, socket or device is not supported
 * (BENCHFS_ENOTSUP): BenchFS stores their records only, never their data. */
benchfs_file_t *benchfs_open(benchfs_context_t *ctx, const char *path, int flags);

/* Publishes the file's size to its metadata server and invalidates the handle:
 * any later call with it (benchfs_close included) returns BENCHFS_EBADF. */
int benchfs_close(benchfs_file_t *f);

/* Reads up to len bytes at offset off. Returns bytes read (0 at end of file). */
ssize_t benchfs_read(benchfs_file_t *f, void *buf, size_t len, off_t off);

/* Writes len bytes at offset off. Returns bytes written (all of them, or an error);
 * BENCHFS_EFBIG when off + len would exceed INT64_MAX. */
ssize_t benchfs_write(benchfs_file_t *f, const void *buf, size_t len, off_t off);

/* Makes the file's data and size durable on the servers. */
int benchfs_fsync(benchfs_file_t *f);

/* Size of an open file as this handle sees it (its own writes included). */
int64_t benchfs_file_size(benchfs_file_t *f);

/* Fills *st: type bits (S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO, S_IFSOCK, S_IFCHR,
 * S_IFBLK) and permissions in st_mode, st_size as published by the last
 * close/fsync (a link's target length), uid, gid, times, st_nlink 1 (2 for
 * directories), st_rdev (devices), st_blksize = the file's chunk size (4096 for
 * everything else), st_blocks in 512-byte units, st_ino a hash of the file's id
 * (kept across rename) or of a directory's path (the FUSE mount numbers inodes
 * itself). The same figures as the mount's stat(2), from one conversion
 * (src/stat.rs).
 * benchfs_stat does NOT follow symbolic links, neither in the last component nor
 * in any intermediate one: it is lstat(2) (a path through a link is ENOENT or
 * ENOTDIR). benchfs_lstat is the same call under the name that says so. */
int benchfs_stat(benchfs_context_t *ctx, const char *path, struct stat *st);
int benchfs_lstat(benchfs_context_t *ctx, const char *path, struct stat *st);
int64_t benchfs_get_file_size(benchfs_context_t *ctx, const char *path);
int benchfs_remove(benchfs_context_t *ctx, const char *path); /* unlink a file */
int benchfs_mkdir(benchfs_context_t *ctx, const char *path, mode_t mode);
int benchfs_rmdir(benchfs_context_t *ctx, const char *path);
int benchfs_rename(benchfs_context_t *ctx, const char *from, const char *to);
int benchfs_truncate(benchfs_context_t *ctx, const char *path, off_t size);
int benchfs_access(benchfs_context_t *ctx, const char *path, int mode); /* F_OK, R_OK, W_OK, X_OK */
int benchfs_chmod(benchfs_context_t *ctx, const char *path, mode_t mode);
int benchfs_readdir(benchfs_context_t *ctx, const char *path, benchfs_readdir_fn fn, void *arg);

/* Makes a symbolic link `path` pointing to `target`, stored as given (relative or
 * absolute, dangling or not; 1 to 4095 bytes). BenchFS never resolves it: the
 * kernel does on the FUSE mount. */
int benchfs_symlink(benchfs_context_t *ctx, const char *target, const char *path);

/* link(2): makes `path` a further name of the file at `existing` (a regular file,
 * symbolic link or special file; a directory is BENCHFS_EPERM, an existing `path`
 * BENCHFS_EEXIST). Every name then shows the same st_ino, st_nlink, data and
 * attributes; the data is freed when the last name is removed. A final symbolic
 * link in `existing` is not followed (as linkat(2) without AT_SYMLINK_FOLLOW). */
int benchfs_link(benchfs_context_t *ctx, const char *existing, const char *path);

/* readlink(2): copies the target of link `path` into buf, at most len bytes and
 * WITHOUT a terminating NUL; returns the bytes copied (a longer target is cut).
 * BENCHFS_EINVAL if `path` is not a symbolic link or len is 0. */
ssize_t benchfs_readlink(benchfs_context_t *ctx, const char *path, char *buf, size_t len);

/* mknod(2): `mode` is the type (S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK; S_IFREG or 0
 * for an empty regular file) and permission bits, `rdev` the device number
 * (makedev(3); devices only). FIFOs, sockets and devices are records only: they
 * list, stat, rename and remove like files, but benchfs_open refuses them
 * (BENCHFS_ENOTSUP); on the FUSE mount the kernel gives them their semantics.
 * Other types (directories, links) are BENCHFS_EINVAL. */
int benchfs_mknod(benchfs_context_t *ctx, const char *path, mode_t mode, dev_t rdev);

/* Space summed over all servers (f_bsize = f_frsize = 4096); no inode limit:
 * f_ffree = f_favail = available blocks, f_files = records + f_ffree. */
int benchfs_statfs(benchfs_context_t *ctx, struct statvfs *st);

/* Last error of the calling thread: message (never NULL; "" if none; valid until
 * the thread's next failed call) and code (0 if none). A successful call leaves
 * both unchanged. */
const char *benchfs_get_error(void);
int benchfs_errno(void);

/* Library version string, e.g. "0.1.0". */
const char *benchfs_version(void);

#ifdef __cplusplus
}
#endif

#endif /* BENCHFS_H */
