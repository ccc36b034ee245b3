/* threads.c - many threads of one process share one context (and one handle of a
 * shared file) while another process does the same; every byte is verified.
 *
 * Usage: threads SERVERS PROC NPROCS write   (run one per PROC, concurrently)
 *        threads SERVERS 0 NPROCS verify     (afterwards: checks every process's data)
 *
 * Each thread T of process P writes its own file /t/pP-tT and its own range of
 * /t/shared. Ranges are disjoint but not chunk-aligned, so neighbouring threads (and
 * processes) write into the same chunks at the same time. */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define THREADS 8
#define PIECE (64 * 1024 + 7)            /* write size: never chunk-aligned */
#define OWN_SIZE (2 * 1024 * 1024 + 4099) /* per-thread file */
#define RANGE (1536 * 1024 + 3)          /* per-thread range of the shared file */
#define SHARED_SEED 1

struct job {
    benchfs_context_t *ctx;
    benchfs_file_t *shared; /* one handle, used by all threads of the process */
    pthread_barrier_t *barrier;
    int proc, nprocs, thread;
    int verify; /* 0: write then read back; 1: only verify (all processes) */
};

static void own_path(char *buf, size_t len, int proc, int thread) {
    snprintf(buf, len, "/t/p%d-t%d", proc, thread);
}

static uint64_t own_seed(int proc, int thread) {
    return 1000 + (uint64_t)proc * THREADS + (uint64_t)thread;
}

/* Writes [off, off+len) of pattern `seed` in PIECE-sized writes. */
static void write_pattern(benchfs_file_t *f, uint64_t seed, uint64_t off, size_t len) {
    unsigned char *buf = malloc(PIECE);
    CHECK(buf != NULL);
    for (size_t done = 0; done < len;) {
        size_t n = len - done < PIECE ? len - done : PIECE;
        pattern_fill(buf, n, seed, off + done);
        CHECK_RC(benchfs_write(f, buf, n, (off_t)(off + done)), n);
        done += n;
    }
    free(buf);
}

/* Reads [off, off+len) in one call and compares it with pattern `seed`. */
static void check_pattern(benchfs_file_t *f, uint64_t seed, uint64_t off, size_t len, const char *what) {
    unsigned char *buf = malloc(len);
    CHECK(buf != NULL);
    CHECK_RC(benchfs_read(f, buf, len, (off_t)off), len);
    long long bad = pattern_mismatch(buf, len, seed, off);
    if (bad >= 0) {
        fprintf(stderr, "%s: wrong byte at offset %llu\n", what, (unsigned long long)off + (unsigned long long)bad);
        exit(1);
    }
    free(buf);
}

/* Checks one process's and thread's own file, through a handle of this thread. */
static void verify_own(benchfs_context_t *ctx, int proc, int thread) {
    char path[64];
    own_path(path, sizeof path, proc, thread);
    CHECK_RC(benchfs_get_file_size(ctx, path), OWN_SIZE);
    benchfs_file_t *f = benchfs_open(ctx, path, O_RDONLY);
    CHECK(f != NULL);
    check_pattern(f, own_seed(proc, thread), 0, OWN_SIZE, path);
    CHECK_RC(benchfs_close(f), 0);
}

static void *run(void *arg) {
    struct job *j = arg;
    int range = j->proc * THREADS + j->thread;
    uint64_t off = (uint64_t)range * RANGE;

    /* The last error is per thread: each thread fails differently, then checks its own. */
    struct stat st;
    if (j->thread % 2) {
        CHECK_RC(benchfs_stat(j->ctx, "/t/does-not-exist", &st), BENCHFS_ENOENT);
    } else {
        CHECK_RC(benchfs_mkdir(j->ctx, "/t", 0755), BENCHFS_EEXIST);
    }
    pthread_barrier_wait(j->barrier);
    CHECK_RC(benchfs_errno(), j->thread % 2 ? BENCHFS_ENOENT : BENCHFS_EEXIST);

    if (j->verify) {
        for (int p = 0; p < j->nprocs; p++) verify_own(j->ctx, p, j->thread);
        for (int p = 0; p < j->nprocs; p++)
            check_pattern(j->shared, SHARED_SEED, ((uint64_t)p * THREADS + (uint64_t)j->thread) * RANGE, RANGE,
                          "/t/shared");
        return NULL;
    }

    char path[64];
    own_path(path, sizeof path, j->proc, j->thread);
    benchfs_file_t *f = benchfs_create(j->ctx, path, O_RDWR | O_EXCL, 0644);
    CHECK(f != NULL);
    /* Interleave the two files so both handles are busy at once. */
    for (size_t done = 0; done < OWN_SIZE || done < RANGE; done += 4 * PIECE) {
        if (done < OWN_SIZE) {
            size_t n = OWN_SIZE - done < 4 * PIECE ? OWN_SIZE - done : 4 * PIECE;
            write_pattern(f, own_seed(j->proc, j->thread), done, n);
        }
        if (done < RANGE) {
            size_t n = RANGE - done < 4 * PIECE ? RANGE - done : 4 * PIECE;
            write_pattern(j->shared, SHARED_SEED, off + done, n);
        }
    }
    check_pattern(f, own_seed(j->proc, j->thread), 0, OWN_SIZE, path);
    check_pattern(j->shared, SHARED_SEED, off, RANGE, "/t/shared");
    CHECK_RC(benchfs_close(f), 0);
    verify_own(j->ctx, j->proc, j->thread);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5 || (strcmp(argv[4], "write") != 0 && strcmp(argv[4], "verify") != 0)) {
        fprintf(stderr, "usage: %s SERVERS PROC NPROCS write|verify\n", argv[0]);
        return 2;
    }
    int proc = atoi(argv[2]), nprocs = atoi(argv[3]), verify = strcmp(argv[4], "verify") == 0;
    benchfs_context_t *ctx = benchfs_init(argv[1]);
    CHECK(ctx != NULL);
    int rc = benchfs_mkdir(ctx, "/t", 0755);
    CHECK(rc == 0 || rc == BENCHFS_EEXIST); /* the other process may be first */
    benchfs_file_t *shared = benchfs_open(ctx, "/t/shared", verify ? O_RDONLY : O_RDWR | O_CREAT);
    CHECK(shared != NULL);
    if (verify) CHECK_RC(benchfs_file_size(shared), (long long)nprocs * THREADS * RANGE);

    pthread_barrier_t barrier;
    CHECK(pthread_barrier_init(&barrier, NULL, THREADS) == 0);
    pthread_t tids[THREADS];
    struct job jobs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (struct job){ctx, shared, &barrier, proc, nprocs, t, verify};
        CHECK(pthread_create(&tids[t], NULL, run, &jobs[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++) CHECK(pthread_join(tids[t], NULL) == 0);
    pthread_barrier_destroy(&barrier);

    CHECK_RC(benchfs_close(shared), 0);
    CHECK_RC(benchfs_finalize(ctx), 0);
    printf("threads: process %d %s ok\n", proc, argv[4]);
    return 0;
}
