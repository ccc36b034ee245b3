/*
 * aiori-BENCHFS.c - BenchFS backend for IOR, mdtest and md-workbench.
 *
 * This file belongs to BenchFS (ior_integration/). It is not part of IOR;
 * ior_integration/install-into-ior.sh copies it into an IOR source tree and
 * registers it, after which the backend is selected with `-a BENCHFS`.
 *
 * Every operation goes straight to the BenchFS servers through the BenchFS C
 * API (benchfs.h, libbenchfs): no FUSE mount and no kernel involvement.
 *
 * Conventions of this backend:
 *  - BenchFS paths are absolute in the BenchFS namespace. IOR and mdtest use
 *    relative defaults ("testFile", "./out"), so every path is normalised:
 *    "./out//x/../y" becomes "/out/y".
 *  - Metadata calls (mkdir, rmdir, access, stat, rename, statfs, mknod)
 *    follow POSIX: 0 on success, -1 with errno set on failure. mdtest tests
 *    for exactly -1, so the negative codes of the C API are never passed up.
 *  - Failures IOR cannot recover from (connecting, create, open, close,
 *    fsync, size queries) abort through ERRF with benchfs_get_error()'s text.
 *  - With --dryRun nothing is sent to the servers.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

#include <mpi.h>

#include <benchfs.h>

#include "ior.h"
#include "aiori.h"
#include "iordef.h"
#include "utilities.h"

/* Longest BenchFS path this backend builds (normalised, with its NUL). */
#define BFS_PATH_MAX 4096

/* ------------------------------------------------------------------------ */
/* Module state                                                              */
/* ------------------------------------------------------------------------ */

/* Options given on the command line (--benchfs.servers, --benchfs.registry). */
typedef struct {
        char *servers;  /* "host:port,host:port" */
        char *registry; /* directory where benchfsd instances registered */
} benchfs_options_t;

/* What IOR hands out as aiori_fd_t. The path is kept for error messages. */
typedef struct {
        benchfs_file_t *file;
        char path[];
} benchfs_fd_t;

static aiori_xfer_hint_t *hints = NULL;

/* One connection per process, shared by every test of a run. IOR calls
 * initialize/finalize once per test, so they are reference counted. */
static benchfs_context_t *bfs_ctx = NULL;
static int bfs_refs = 0;

/* Handle returned by create/open in dry-run mode (never dereferenced). */
static benchfs_fd_t bfs_dry_run_fd;

static int dry_run(void)
{
        return hints != NULL && hints->dryRun;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* Text for a failed call: the library's message, else strerror(). */
static const char *bfs_strerror(int code)
{
        const char *msg = benchfs_get_error();

        if (msg != NULL && msg[0] != '\0')
                return msg;
        if (code < 0)
                code = -code;
        return strerror(code != 0 ? code : EIO);
}

/* Logs at the given IOR verbosity level (-v repeated) to out_logfile. */
static void bfs_log(int level, const char *fmt, ...)
{
        va_list ap;

        if (verbose < level || out_logfile == NULL)
                return;
        fprintf(out_logfile, "[%d] BENCHFS: ", rank);
        va_start(ap, fmt);
        vfprintf(out_logfile, fmt, ap);
        va_end(ap);
        fputc('\n', out_logfile);
        fflush(out_logfile);
}

/* Turns a path given to IOR into an absolute BenchFS path: leading "/"
 * added, empty and "." components dropped, ".." resolved (never above "/").
 * Aborts if the result does not fit into out. */
static const char *bfs_path(const char *in, char *out, size_t outlen)
{
        size_t len = 0;
        const char *p = in;

        if (in == NULL)
                ERR("BENCHFS: NULL path");

        out[len++] = '/';
        while (*p != '\0') {
                const char *start;
                size_t n;

                while (*p == '/')
                        p++;
                start = p;
                while (*p != '\0' && *p != '/')
                        p++;
                n = (size_t)(p - start);
                if (n == 0 || (n == 1 && start[0] == '.'))
                        continue;
                if (n == 2 && start[0] == '.' && start[1] == '.') {
                        /* drop the last component, keep the root */
                        while (len > 1 && out[len - 1] != '/')
                                len--;
                        if (len > 1)
                                len--;
                        continue;
                }
                if (len + (len > 1 ? 1 : 0) + n + 1 > outlen)
                        ERRF("BENCHFS: path too long (limit %zu bytes): %s",
                             outlen - 1, in);
                if (len > 1)
                        out[len++] = '/';
                memcpy(out + len, start, n);
                len += n;
        }
        out[len] = '\0';
        return out;
}

static benchfs_context_t *bfs_context(void)
{
        if (bfs_ctx == NULL)
                ERR("BENCHFS: not connected (backend used before initialize "
                    "or after finalize)");
        return bfs_ctx;
}

/* Maps a negative C API code to the POSIX -1/errno convention. */
static int bfs_posix_ret(int rc)
{
        if (rc >= 0)
                return 0;
        errno = -rc;
        return -1;
}

/* IOR_* open flags to open(2) flags. mdtest sometimes passes O_RDONLY (0)
 * instead of IOR_RDONLY, so "no access bit" means read-only. IOR_APPEND has
 * no meaning for offset-addressed I/O and IOR_DIRECT none without a page
 * cache; both are ignored. */
static int bfs_oflags(int iorflags)
{
        int fl;
        int rd = (iorflags & IOR_RDONLY) != 0;
        int wr = (iorflags & IOR_WRONLY) != 0;

        if ((iorflags & IOR_RDWR) || (rd && wr))
                fl = O_RDWR;
        else if (wr)
                fl = O_WRONLY;
        else
                fl = O_RDONLY;
        if (iorflags & IOR_CREAT)
                fl |= O_CREAT;
        if (iorflags & IOR_EXCL)
                fl |= O_EXCL;
        if (iorflags & IOR_TRUNC)
                fl |= O_TRUNC;
        return fl;
}

static aiori_fd_t *bfs_wrap(benchfs_file_t *file, const char *path)
{
        size_t n = strlen(path) + 1;
        benchfs_fd_t *fd = malloc(sizeof(*fd) + n);

        if (fd == NULL)
                ERR("BENCHFS: out of memory");
        fd->file = file;
        memcpy(fd->path, path, n);
        return (aiori_fd_t *)fd;
}

/* The server list as the user gave it, for messages. */
static void bfs_describe(const benchfs_options_t *o, char *buf, size_t len)
{
        const char *env;

        if (o != NULL && o->servers != NULL && o->servers[0] != '\0') {
                snprintf(buf, len, "--benchfs.servers=%s", o->servers);
        } else if (o != NULL && o->registry != NULL && o->registry[0] != '\0') {
                snprintf(buf, len, "--benchfs.registry=%s", o->registry);
        } else if ((env = getenv("BENCHFS_SERVERS")) != NULL && env[0] != '\0') {
                snprintf(buf, len, "BENCHFS_SERVERS=%s", env);
        } else if ((env = getenv("BENCHFS_REGISTRY")) != NULL && env[0] != '\0') {
                snprintf(buf, len, "BENCHFS_REGISTRY=%s", env);
        } else {
                snprintf(buf, len, "(none given)");
        }
}

/* The argument for benchfs_init(): the server list, "registry:DIR", or NULL
 * to let the library read BENCHFS_SERVERS / BENCHFS_REGISTRY. The returned
 * string is malloc'ed (or NULL). */
static char *bfs_init_spec(const benchfs_options_t *o)
{
        char *spec;

        if (o == NULL)
                return NULL;
        if (o->servers != NULL && o->servers[0] != '\0')
                return strdup(o->servers);
        if (o->registry != NULL && o->registry[0] != '\0') {
                size_t n = strlen("registry:") + strlen(o->registry) + 1;

                spec = malloc(n);
                if (spec == NULL)
                        ERR("BENCHFS: out of memory");
                snprintf(spec, n, "registry:%s", o->registry);
                return spec;
        }
        return NULL;
}

/* ------------------------------------------------------------------------ */
/* Options                                                                   */
/* ------------------------------------------------------------------------ */

static option_help *BENCHFS_options(aiori_mod_opt_t **init_backend_options,
                                    aiori_mod_opt_t *init_values)
{
        benchfs_options_t *o = malloc(sizeof(*o));
        option_help *help;

        if (o == NULL)
                ERR("BENCHFS: out of memory");
        if (init_values != NULL)
                memcpy(o, init_values, sizeof(*o));
        else
                memset(o, 0, sizeof(*o));
        *init_backend_options = (aiori_mod_opt_t *)o;

        option_help h[] = {
                {0, "benchfs.servers",
                 "BenchFS servers as host:port,host:port (default: $BENCHFS_SERVERS)",
                 OPTION_OPTIONAL_ARGUMENT, 's', &o->servers},
                {0, "benchfs.registry",
                 "Directory where the benchfsd servers registered (default: $BENCHFS_REGISTRY)",
                 OPTION_OPTIONAL_ARGUMENT, 's', &o->registry},
                LAST_OPTION
        };
        help = malloc(sizeof(h));
        if (help == NULL)
                ERR("BENCHFS: out of memory");
        memcpy(help, h, sizeof(h));
        return help;
}

static int BENCHFS_check_params(aiori_mod_opt_t *param)
{
        benchfs_options_t *o = (benchfs_options_t *)param;
        const char *es = getenv("BENCHFS_SERVERS");
        const char *er = getenv("BENCHFS_REGISTRY");
        int has_s = o != NULL && o->servers != NULL && o->servers[0] != '\0';
        int has_r = o != NULL && o->registry != NULL && o->registry[0] != '\0';

        if (has_s && has_r)
                ERR("BENCHFS: give either --benchfs.servers or "
                    "--benchfs.registry, not both");
        if (!has_s && !has_r && (es == NULL || es[0] == '\0') &&
            (er == NULL || er[0] == '\0'))
                ERR("BENCHFS: no servers given: use --benchfs.servers=HOST:PORT,... "
                    "or --benchfs.registry=DIR, or set BENCHFS_SERVERS or "
                    "BENCHFS_REGISTRY");
        return 0;
}

static void BENCHFS_xfer_hints(aiori_xfer_hint_t *params)
{
        hints = params;
}

/* ------------------------------------------------------------------------ */
/* Connection                                                                */
/* ------------------------------------------------------------------------ */

/*
 * Connects this process to the cluster. When MPI is running, rank 0 of the
 * test communicator connects first: if the servers are unreachable, a single
 * clear message is printed and the job aborts before every rank tries (and
 * fails) on its own. The other ranks connect once rank 0 succeeded.
 * IOR calls this after MPI_Init, with testComm set; md-workbench leaves
 * testComm unset, so MPI_COMM_WORLD is used there. Without MPI (library use
 * before MPI_Init) each process simply connects.
 */
static void BENCHFS_initialize(aiori_mod_opt_t *param)
{
        benchfs_options_t *o = (benchfs_options_t *)param;
        char where[1024];
        char *spec;
        int mpi_up = 0, mpi_down = 0;
        int me = 0, ntasks = 1;

        if (bfs_refs > 0) {
                bfs_refs++;
                return;
        }
        if (dry_run()) {
                bfs_refs = 1;
                bfs_log(VERBOSE_2, "dry run, not connecting");
                return;
        }

        bfs_describe(o, where, sizeof(where));
        spec = bfs_init_spec(o);

        MPI_Initialized(&mpi_up);
        if (mpi_up)
                MPI_Finalized(&mpi_down);

        if (mpi_up && !mpi_down) {
                MPI_Comm comm = testComm != MPI_COMM_NULL ? testComm : MPI_COMM_WORLD;
                int status = 0;

                MPI_CHECK(MPI_Comm_rank(comm, &me), "cannot get rank");
                MPI_CHECK(MPI_Comm_size(comm, &ntasks), "cannot get size");
                if (me == 0) {
                        bfs_ctx = benchfs_init(spec);
                        if (bfs_ctx == NULL) {
                                status = benchfs_errno();
                                if (status == 0)
                                        status = BENCHFS_EIO;
                                fprintf(out_logfile,
                                        "ERROR: BENCHFS: cannot connect to the BenchFS "
                                        "servers %s: %s\n",
                                        where, bfs_strerror(status));
                                fflush(out_logfile);
                        }
                }
                MPI_CHECK(MPI_Bcast(&status, 1, MPI_INT, 0, comm),
                          "cannot broadcast BenchFS connect status");
                if (status != 0) {
                        /* rank 0 has said why */
                        MPI_Abort(MPI_COMM_WORLD, 1);
                }
                if (me != 0) {
                        bfs_ctx = benchfs_init(spec);
                        if (bfs_ctx == NULL)
                                ERRF("BENCHFS: rank %d cannot connect to the BenchFS "
                                     "servers %s: %s",
                                     me, where, bfs_strerror(benchfs_errno()));
                }
        } else {
                bfs_ctx = benchfs_init(spec);
                if (bfs_ctx == NULL) {
                        fprintf(out_logfile != NULL ? out_logfile : stderr,
                                "ERROR: BENCHFS: cannot connect to the BenchFS "
                                "servers %s: %s\n",
                                where, bfs_strerror(benchfs_errno()));
                        exit(1);
                }
        }
        free(spec);
        bfs_refs = 1;

        if (me == 0)
                bfs_log(VERBOSE_1, "connected %d task(s) to %d server(s) (%s), "
                        "libbenchfs %s",
                        ntasks, benchfs_server_count(bfs_ctx), where,
                        benchfs_version());
}

static void BENCHFS_finalize(aiori_mod_opt_t *param)
{
        int rc;

        (void)param;
        if (bfs_refs == 0 || --bfs_refs > 0)
                return;
        if (bfs_ctx == NULL)
                return;
        rc = benchfs_finalize(bfs_ctx);
        bfs_ctx = NULL;
        if (rc < 0)
                WARNF("BENCHFS: benchfs_finalize failed: %s", bfs_strerror(rc));
}

/* ------------------------------------------------------------------------ */
/* Files                                                                     */
/* ------------------------------------------------------------------------ */

static aiori_fd_t *BENCHFS_create(char *name, int iorflags, aiori_mod_opt_t *param)
{
        char path[BFS_PATH_MAX];
        benchfs_file_t *f;
        int flags = bfs_oflags(iorflags | IOR_CREAT);

        (void)param;
        if (dry_run())
                return (aiori_fd_t *)&bfs_dry_run_fd;
        bfs_path(name, path, sizeof(path));

        /* A shared file is created by every task at once and IOR puts no
         * barrier between create and the first write, so a late task's
         * O_TRUNC would cut off data an early task already wrote. IOR
         * removes the file before each write phase anyway; the POSIX backend
         * does not truncate either. */
        if (hints != NULL && !hints->filePerProc)
                flags &= ~O_TRUNC;

        bfs_log(VERBOSE_3, "create %s (open flags %#o)", path, flags);
        f = benchfs_create(bfs_context(), path, flags, 0664);
        if (f == NULL)
                ERRF("BENCHFS: cannot create \"%s\": %s", path,
                     bfs_strerror(benchfs_errno()));
        return bfs_wrap(f, path);
}

static aiori_fd_t *BENCHFS_open(char *name, int iorflags, aiori_mod_opt_t *param)
{
        char path[BFS_PATH_MAX];
        benchfs_file_t *f;
        int flags = bfs_oflags(iorflags);

        (void)param;
        if (dry_run())
                return (aiori_fd_t *)&bfs_dry_run_fd;
        bfs_path(name, path, sizeof(path));

        bfs_log(VERBOSE_3, "open %s (open flags %#o)", path, flags);
        f = benchfs_open(bfs_context(), path, flags);
        if (f == NULL)
                ERRF("BENCHFS: cannot open \"%s\": %s", path,
                     bfs_strerror(benchfs_errno()));
        return bfs_wrap(f, path);
}

/* mdtest -k: create an empty file without keeping it open. */
static int BENCHFS_mknod(char *name)
{
        char path[BFS_PATH_MAX];
        benchfs_file_t *f;
        int rc;

        if (dry_run())
                return 0;
        bfs_path(name, path, sizeof(path));
        bfs_log(VERBOSE_3, "mknod %s", path);
        f = benchfs_create(bfs_context(), path, O_WRONLY | O_EXCL, S_IRUSR);
        if (f == NULL)
                return bfs_posix_ret(benchfs_errno() < 0 ? benchfs_errno() : BENCHFS_EIO);
        rc = benchfs_close(f);
        return bfs_posix_ret(rc);
}

static void BENCHFS_fsync(aiori_fd_t *afd, aiori_mod_opt_t *param)
{
        benchfs_fd_t *fd = (benchfs_fd_t *)afd;
        int rc;

        (void)param;
        if (dry_run())
                return;
        bfs_log(VERBOSE_4, "fsync %s", fd->path);
        rc = benchfs_fsync(fd->file);
        if (rc < 0)
                ERRF("BENCHFS: fsync of \"%s\" failed: %s", fd->path, bfs_strerror(rc));
}

/*
 * Moves len bytes at offset. The C API may return fewer bytes than asked
 * (reads near the end of a file, or a short write): the rest is requested
 * again unless IOR asked for a single attempt. Returns the bytes moved; IOR
 * treats anything short of len as an error, so failures only warn here.
 */
static IOR_offset_t BENCHFS_xfer(int access, aiori_fd_t *afd, IOR_size_t *buffer,
                                 IOR_offset_t len, IOR_offset_t offset,
                                 aiori_mod_opt_t *param)
{
        benchfs_fd_t *fd = (benchfs_fd_t *)afd;
        char *buf = (char *)buffer;
        IOR_offset_t done = 0;
        int writing = access == WRITE;

        if (dry_run())
                return len;

        bfs_log(VERBOSE_4, "%s %s: %lld bytes at offset %lld",
                writing ? "write" : "read", fd->path, (long long)len,
                (long long)offset);

        while (done < len) {
                size_t want = (size_t)(len - done);
                off_t at = (off_t)(offset + done);
                ssize_t rc;

                if (writing)
                        rc = benchfs_write(fd->file, buf + done, want, at);
                else
                        rc = benchfs_read(fd->file, buf + done, want, at);

                if (rc < 0) {
                        WARNF("BENCHFS: task %d: %s of %zu bytes at offset %lld "
                              "in \"%s\" failed: %s",
                              rank, writing ? "write" : "read", want,
                              (long long)at, fd->path, bfs_strerror((int)rc));
                        break;
                }
                if (rc == 0) {
                        WARNF("BENCHFS: task %d: %s at offset %lld in \"%s\" "
                              "moved no data (end of file?)",
                              rank, writing ? "write" : "read", (long long)at,
                              fd->path);
                        break;
                }
                done += rc;
                if (done < len) {
                        bfs_log(VERBOSE_2, "task %d: partial %s, %lld of %zu bytes "
                                "at offset %lld",
                                rank, writing ? "write" : "read", (long long)rc,
                                want, (long long)at);
                        if (hints != NULL && hints->singleXferAttempt)
                                break;
                }
        }

        if (writing && hints != NULL && hints->fsyncPerWrite)
                BENCHFS_fsync(afd, param);
        return done;
}

static void BENCHFS_close(aiori_fd_t *afd, aiori_mod_opt_t *param)
{
        benchfs_fd_t *fd = (benchfs_fd_t *)afd;
        int rc;

        (void)param;
        if (dry_run() || fd == NULL || fd == &bfs_dry_run_fd)
                return;
        bfs_log(VERBOSE_3, "close %s", fd->path);
        /* benchfs_close publishes the size to the metadata server: a
         * failure here means later size queries would be wrong. */
        rc = benchfs_close(fd->file);
        if (rc < 0)
                ERRF("BENCHFS: close of \"%s\" failed: %s", fd->path, bfs_strerror(rc));
        free(fd);
}

static void BENCHFS_delete(char *name, aiori_mod_opt_t *param)
{
        char path[BFS_PATH_MAX];
        int rc;

        (void)param;
        if (dry_run())
                return;
        bfs_path(name, path, sizeof(path));
        bfs_log(VERBOSE_3, "remove %s", path);
        rc = benchfs_remove(bfs_context(), path);
        if (rc < 0)
                WARNF("BENCHFS: task %d: cannot remove \"%s\": %s", rank, path,
                      bfs_strerror(rc));
}

static char *BENCHFS_get_version(void)
{
        static char version[64];

        snprintf(version, sizeof(version), "BenchFS %s (C API %d)",
                 benchfs_version(), BENCHFS_API_VERSION);
        return version;
}

/*
 * Size of one file as the metadata server records it. This IOR version sums
 * the per-task sizes for file-per-process runs and compares min/max across
 * tasks for shared files itself (CheckFileSize in ior.c), and also calls this
 * outside collective context (random-offset reads), so no MPI reduction
 * happens here: that would count every file ntasks times.
 */
static IOR_offset_t BENCHFS_get_file_size(aiori_mod_opt_t *param, char *name)
{
        char path[BFS_PATH_MAX];
        int64_t size;

        (void)param;
        if (dry_run())
                return 0;
        bfs_path(name, path, sizeof(path));
        size = benchfs_get_file_size(bfs_context(), path);
        if (size < 0)
                ERRF("BENCHFS: cannot get the size of \"%s\": %s", path,
                     bfs_strerror((int)size));
        bfs_log(VERBOSE_3, "size of %s: %lld", path, (long long)size);
        return (IOR_offset_t)size;
}

/* ------------------------------------------------------------------------ */
/* Metadata                                                                  */
/* ------------------------------------------------------------------------ */

static int BENCHFS_statfs(const char *name, ior_aiori_statfs_t *out,
                          aiori_mod_opt_t *param)
{
        struct statvfs sv;
        int rc;

        (void)name;
        (void)param;
        if (dry_run())
                return 0;
        memset(&sv, 0, sizeof(sv));
        rc = benchfs_statfs(bfs_context(), &sv);
        if (rc < 0) {
                WARNF("BENCHFS: statfs failed: %s", bfs_strerror(rc));
                return bfs_posix_ret(rc);
        }
        /* f_blocks and friends count f_frsize units (POSIX). */
        out->f_bsize = sv.f_frsize != 0 ? sv.f_frsize : sv.f_bsize;
        out->f_blocks = sv.f_blocks;
        out->f_bfree = sv.f_bfree;
        out->f_bavail = sv.f_bavail;
        out->f_files = sv.f_files;
        out->f_ffree = sv.f_ffree;
        return 0;
}

static int BENCHFS_mkdir(const char *name, mode_t mode, aiori_mod_opt_t *param)
{
        char path[BFS_PATH_MAX];
        int rc;

        (void)param;
        if (dry_run())
                return 0;
        bfs_path(name, path, sizeof(path));
        rc = benchfs_mkdir(bfs_context(), path, mode);
        bfs_log(VERBOSE_3, "mkdir %s mode %#o: %d", path, (unsigned)mode, rc);
        return bfs_posix_ret(rc);
}

static int BENCHFS_rmdir(const char *name, aiori_mod_opt_t *param)
{
        char path[BFS_PATH_MAX];
        int rc;

        (void)param;
        if (dry_run())
                return 0;
        bfs_path(name, path, sizeof(path));
        rc = benchfs_rmdir(bfs_context(), path);
        bfs_log(VERBOSE_3, "rmdir %s: %d", path, rc);
        return bfs_posix_ret(rc);
}

static int BENCHFS_access(const char *name, int mode, aiori_mod_opt_t *param)
{
        char path[BFS_PATH_MAX];
        int rc;

        (void)param;
        if (dry_run())
                return 0;
        bfs_path(name, path, sizeof(path));
        rc = benchfs_access(bfs_context(), path, mode);
        bfs_log(VERBOSE_3, "access %s mode %d: %d", path, mode, rc);
        return bfs_posix_ret(rc);
}

static int BENCHFS_stat(const char *name, struct stat *buf, aiori_mod_opt_t *param)
{
        char path[BFS_PATH_MAX];
        int rc;

        (void)param;
        if (dry_run())
                return 0;
        bfs_path(name, path, sizeof(path));
        rc = benchfs_stat(bfs_context(), path, buf);
        bfs_log(VERBOSE_3, "stat %s: %d", path, rc);
        return bfs_posix_ret(rc);
}

static int BENCHFS_rename(const char *from, const char *to, aiori_mod_opt_t *param)
{
        char src[BFS_PATH_MAX];
        char dst[BFS_PATH_MAX];
        int rc;

        (void)param;
        if (dry_run())
                return 0;
        bfs_path(from, src, sizeof(src));
        bfs_path(to, dst, sizeof(dst));
        rc = benchfs_rename(bfs_context(), src, dst);
        bfs_log(VERBOSE_3, "rename %s -> %s: %d", src, dst, rc);
        if (rc < 0)
                WARNF("BENCHFS: task %d: cannot rename \"%s\" to \"%s\": %s", rank,
                      src, dst, bfs_strerror(rc));
        return bfs_posix_ret(rc);
}

/* mdtest -Y. The C API has no file-system-wide sync: data is made durable
 * per file with benchfs_fsync (IOR -Y / -e), so there is nothing to do. */
static void BENCHFS_sync(aiori_mod_opt_t *param)
{
        (void)param;
        bfs_log(VERBOSE_3, "sync (no-op)");
}

/* ------------------------------------------------------------------------ */

ior_aiori_t benchfs_aiori = {
        .name = "BENCHFS",
        .name_legacy = NULL,
        .create = BENCHFS_create,
        .mknod = BENCHFS_mknod,
        .open = BENCHFS_open,
        .xfer_hints = BENCHFS_xfer_hints,
        .xfer = BENCHFS_xfer,
        .close = BENCHFS_close,
        .remove = BENCHFS_delete,
        .get_version = BENCHFS_get_version,
        .fsync = BENCHFS_fsync,
        .get_file_size = BENCHFS_get_file_size,
        .statfs = BENCHFS_statfs,
        .mkdir = BENCHFS_mkdir,
        .rmdir = BENCHFS_rmdir,
        .access = BENCHFS_access,
        .stat = BENCHFS_stat,
        .initialize = BENCHFS_initialize,
        .finalize = BENCHFS_finalize,
        .rename = BENCHFS_rename,
        .get_options = BENCHFS_options,
        .check_params = BENCHFS_check_params,
        .sync = BENCHFS_sync,
        .enable_mdtest = true,
};
