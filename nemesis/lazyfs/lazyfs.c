/* lazyfs: a FUSE file system over a node's work directory whose data directory forgets what
 * was never synced (splitbrain's disk faults; see nemesis/disk.py and docs/faults.md).
 *
 *   lazyfs LAZY SHADOW MOUNTPOINT [fuse options]
 *
 * MOUNTPOINT is mounted over itself: the directory underneath (opened before the mount) holds
 * the files as the programs see them, and every operation passes through to it. Under LAZY
 * (a path relative to MOUNTPOINT, the system's data directory) the file system also keeps,
 * in SHADOW (a directory outside MOUNTPOINT), each file's content as of its last sync: fsync,
 * fdatasync, a write through an O_SYNC or O_DSYNC descriptor. A sync copies only the bytes
 * written since the last one (a range per inode). A file's name becomes durable when the file
 * is synced or its directory is (fsync of the directory).
 *
 * Control: the virtual file MOUNTPOINT/.lazyfs-ctl (not listed) takes one command a write:
 *   lose        every file under LAZY goes back to its synced content; a file never synced
 *               is emptied if its name was made durable, removed otherwise
 *   checkpoint  everything under LAZY counts as synced (what the system's setup wrote, long
 *               before any fault: a disk would have flushed it)
 *   enospc 1|0  writes, creates and allocations under LAZY fail with ENOSPC (or not)
 *   slow MS     every write and sync under LAZY waits MS milliseconds first (0: off)
 * and reading it gives the state and what the last `lose` dropped, as one JSON line.
 *
 * Not modelled: unlinks and renames are durable at once (as lazyfs's metadata is), directories
 * are never removed by `lose`, writes through a shared writable mmap are tracked when the
 * kernel writes the pages back, syncfs(2) and sync(2) do not reach a FUSE file system.
 */
#define FUSE_USE_VERSION 35
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define CTL "/.lazyfs-ctl"
#define NBUCKET 4096
#define INF INT64_MAX

struct ent {
    ino_t ino;
    int64_t lo, hi;    /* bytes written since the last sync: [lo, hi) (lo >= hi: none) */
    int has_shadow;    /* SHADOW/<ino> holds the synced content */
    int name_durable;  /* its name survives a loss even without synced content */
    struct ent *next;
};

struct fh {
    int fd;
    int lazy;
    int sync;    /* opened O_SYNC / O_DSYNC: every write is synced */
    int append;
};

static int base_fd;           /* the directory under the mount point */
static int shadow_fd;
static char lazy_rel[PATH_MAX]; /* "/raft-data" */
static size_t lazy_len;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct ent *table[NBUCKET];
static volatile int enospc_on;
static volatile int slow_ms;
static char last_loss[512] = "null";

/* -- paths ---------------------------------------------------------------------------------- */

/* A path relative to the directory underneath ("." for the root); a removed node's NULL
 * path names nothing. */
static const char *rel(const char *path) {
    if (!path) return "\x01/removed";
    return path[1] ? path + 1 : ".";
}

static int is_lazy(const char *path) {
    return path && strncmp(path, lazy_rel, lazy_len) == 0 &&
           (path[lazy_len] == '/' || path[lazy_len] == '\0');
}

static int is_ctl(const char *path) { return path && strcmp(path, CTL) == 0; }

/* -- the table of inodes under LAZY ----------------------------------------------------------- */

static struct ent *get(ino_t ino, int make) {
    struct ent **b = &table[ino % NBUCKET];
    for (struct ent *e = *b; e; e = e->next)
        if (e->ino == ino) return e;
    if (!make) return NULL;
    struct ent *e = calloc(1, sizeof *e);
    e->ino = ino;
    e->lo = INF;
    e->hi = 0;
    e->next = *b;
    *b = e;
    return e;
}

static void shadow_name(ino_t ino, char *out) { snprintf(out, 32, "%llu", (unsigned long long)ino); }

static void forget(ino_t ino) {
    struct ent **b = &table[ino % NBUCKET];
    for (struct ent **p = b; *p; p = &(*p)->next) {
        if ((*p)->ino == ino) {
            struct ent *e = *p;
            *p = e->next;
            if (e->has_shadow) {
                char name[32];
                shadow_name(ino, name);
                unlinkat(shadow_fd, name, 0);
            }
            free(e);
            return;
        }
    }
}

static void dirty(ino_t ino, int64_t lo, int64_t hi) {
    struct ent *e = get(ino, 1);
    if (lo < e->lo) e->lo = lo;
    if (hi > e->hi) e->hi = hi;
}

static int copy_range(int from, int to, int64_t lo, int64_t hi) {
    char buf[1 << 16];
    while (lo < hi) {
        size_t want = (size_t)(hi - lo) < sizeof buf ? (size_t)(hi - lo) : sizeof buf;
        ssize_t n = pread(from, buf, want, lo);
        if (n < 0) return -errno;
        if (n == 0) break;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = pwrite(to, buf + done, n - done, lo + done);
            if (w < 0) return -errno;
            done += w;
        }
        lo += n;
    }
    return 0;
}

/* Make the live file behind fd durable: its dirty bytes go to its shadow copy. Under lock. */
static int sync_fd(int fd) {
    struct stat st;
    if (fstat(fd, &st) < 0) return -errno;
    if (!S_ISREG(st.st_mode)) return 0;
    struct ent *e = get(st.st_ino, 1);
    char name[32];
    shadow_name(st.st_ino, name);
    int s = openat(shadow_fd, name, O_WRONLY | O_CREAT, 0600);
    if (s < 0) return -errno;
    int64_t lo = e->has_shadow ? e->lo : 0, hi = e->has_shadow ? e->hi : INF;
    if (hi > st.st_size) hi = st.st_size;
    int r = lo < hi ? copy_range(fd, s, lo, hi) : 0;
    if (r == 0 && ftruncate(s, st.st_size) < 0) r = -errno;
    close(s);
    if (r == 0) {
        e->has_shadow = 1;
        e->name_durable = 1;
        e->lo = INF;
        e->hi = 0;
    }
    return r;
}

static void slow(void) {
    int ms = slow_ms;
    if (ms > 0) {
        struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
        while (nanosleep(&t, &t) < 0 && errno == EINTR) {
        }
    }
}

/* -- lose ----------------------------------------------------------------------------------- */

struct loss {
    long restored, emptied, removed;
    long long bytes;
};

static void invalidate(const char *path) {
    struct fuse_context *c = fuse_get_context();
    if (c && c->fuse) fuse_invalidate_path(c->fuse, path);
}

/* Walk the directory ``dir`` (relative to base_fd; ``path`` its FUSE path) and put every
 * regular file back to what was synced. Under lock. */
static void lose_dir(const char *dir, const char *path, struct loss *l) {
    int dfd = openat(base_fd, dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0) return;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char sub[PATH_MAX], fpath[PATH_MAX];
        snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
        snprintf(fpath, sizeof fpath, "%s/%s", path, de->d_name);
        struct stat st;
        if (fstatat(base_fd, sub, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
        if (S_ISDIR(st.st_mode)) {
            lose_dir(sub, fpath, l);
            continue;
        }
        if (!S_ISREG(st.st_mode)) continue;
        struct ent *e = get(st.st_ino, 0);
        if (e && e->has_shadow) {
            char name[32];
            shadow_name(st.st_ino, name);
            int s = openat(shadow_fd, name, O_RDONLY);
            struct stat ss;
            if (s < 0 || fstat(s, &ss) < 0) {
                if (s >= 0) close(s);
                continue;
            }
            if (e->lo < e->hi || ss.st_size != st.st_size) {
                int f = openat(base_fd, sub, O_WRONLY);
                if (f >= 0) {
                    /* the bytes dropped: those written since the sync, and the tail
                     * past the synced size */
                    int64_t lo = e->lo, hi = e->hi < st.st_size ? e->hi : st.st_size;
                    if (st.st_size > ss.st_size) {
                        if (ss.st_size < lo) lo = ss.st_size;
                        hi = st.st_size;
                    }
                    l->bytes += hi > lo ? hi - lo : 0;
                    copy_range(s, f, 0, ss.st_size);
                    if (ftruncate(f, ss.st_size) == 0) l->restored++;
                    close(f);
                }
                invalidate(fpath);
            }
            close(s);
            e->lo = INF;
            e->hi = 0;
        } else if (e && e->name_durable) {
            if (st.st_size > 0) {
                int f = openat(base_fd, sub, O_WRONLY | O_TRUNC);
                if (f >= 0) close(f);
                l->bytes += st.st_size;
                l->emptied++;
                invalidate(fpath);
            }
            e->lo = INF;
            e->hi = 0;
        } else {
            if (unlinkat(base_fd, sub, 0) == 0) {
                l->bytes += st.st_size;
                l->removed++;
                if (e) forget(st.st_ino);
                invalidate(fpath);
            }
        }
    }
    closedir(d);
}

static void lose(void) {
    struct loss l = {0, 0, 0, 0};
    pthread_mutex_lock(&lock);
    lose_dir(lazy_rel + 1, lazy_rel, &l);
    snprintf(last_loss, sizeof last_loss,
             "{\"restored\": %ld, \"emptied\": %ld, \"removed\": %ld, \"bytes\": %lld}",
             l.restored, l.emptied, l.removed, l.bytes);
    pthread_mutex_unlock(&lock);
}

/* Every file under LAZY counts as synced, names and data: those there when mounted, and all at
 * a checkpoint. Under lock (or before the threads start). */
static void adopt_dir(const char *dir) {
    int dfd = openat(base_fd, dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0) return;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char sub[PATH_MAX];
        snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
        struct stat st;
        if (fstatat(base_fd, sub, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
        if (S_ISDIR(st.st_mode)) {
            adopt_dir(sub);
        } else if (S_ISREG(st.st_mode)) {
            int f = openat(base_fd, sub, O_RDONLY);
            if (f >= 0) {
                sync_fd(f);
                close(f);
            }
        }
    }
    closedir(d);
}

/* -- control -------------------------------------------------------------------------------- */

static int control(const char *buf, size_t size) {
    char cmd[64];
    size_t n = size < sizeof cmd - 1 ? size : sizeof cmd - 1;
    memcpy(cmd, buf, n);
    cmd[n] = '\0';
    while (n && (cmd[n - 1] == '\n' || cmd[n - 1] == ' ')) cmd[--n] = '\0';
    int v;
    if (!strcmp(cmd, "lose")) {
        lose();
        return 0;
    }
    if (!strcmp(cmd, "checkpoint")) {
        pthread_mutex_lock(&lock);
        adopt_dir(lazy_rel + 1);
        pthread_mutex_unlock(&lock);
        return 0;
    }
    if (sscanf(cmd, "enospc %d", &v) == 1) {
        enospc_on = v != 0;
        return 0;
    }
    if (sscanf(cmd, "slow %d", &v) == 1 && v >= 0) {
        slow_ms = v;
        return 0;
    }
    return -EINVAL;
}

static int status(char *out, size_t size) {
    pthread_mutex_lock(&lock);
    int n = snprintf(out, size, "{\"enospc\": %s, \"slow_ms\": %d, \"lazy\": \"%s\", \"last_loss\": %s}\n",
                     enospc_on ? "true" : "false", slow_ms, lazy_rel + 1, last_loss);
    pthread_mutex_unlock(&lock);
    return n;
}

/* -- operations ----------------------------------------------------------------------------- */

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
    (void)conn;
    cfg->use_ino = 1;
    cfg->hard_remove = 1;
    cfg->nullpath_ok = 0;
    cfg->entry_timeout = 1.0;
    cfg->attr_timeout = 1.0;
    /* libfaketime looks for the clock offset file on every time call, and the file is
     * absent until a clock fault writes it: without a negative cache every one of those
     * lookups came here (2,700 a second per node on the Raft store). Whatever is created
     * goes through the kernel, which drops the negative entry; a loss invalidates what it
     * changes. */
    cfg->negative_timeout = 1.0;
    return NULL;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
    if (is_ctl(path)) {
        memset(st, 0, sizeof *st);
        st->st_mode = S_IFREG | 0600;
        st->st_nlink = 1;
        return 0;
    }
    int r = fi && fi->fh ? fstat(((struct fh *)fi->fh)->fd, st)
                         : fstatat(base_fd, rel(path), st, AT_SYMLINK_NOFOLLOW);
    return r < 0 ? -errno : 0;
}

static int op_access(const char *path, int mask) {
    if (is_ctl(path)) return 0;
    return faccessat(base_fd, rel(path), mask, 0) < 0 ? -errno : 0;
}

static int op_readlink(const char *path, char *buf, size_t size) {
    ssize_t n = readlinkat(base_fd, rel(path), buf, size - 1);
    if (n < 0) return -errno;
    buf[n] = '\0';
    return 0;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags) {
    (void)off, (void)fi, (void)flags;
    int dfd = openat(base_fd, rel(path), O_RDONLY | O_DIRECTORY);
    if (dfd < 0) return -errno;
    DIR *d = fdopendir(dfd);
    if (!d) {
        int e = errno;
        close(dfd);
        return -e;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        struct stat st;
        memset(&st, 0, sizeof st);
        st.st_ino = de->d_ino;
        st.st_mode = (mode_t)de->d_type << 12;
        if (fill(buf, de->d_name, &st, 0, 0)) break;
    }
    closedir(d);
    return 0;
}

static int enospc(const char *path) { return enospc_on && is_lazy(path) ? -ENOSPC : 0; }

static int op_mknod(const char *path, mode_t mode, dev_t rdev) {
    int r = enospc(path);
    if (r) return r;
    if (mknodat(base_fd, rel(path), mode, rdev) < 0) return -errno;
    if (is_lazy(path)) {
        struct stat st;
        if (fstatat(base_fd, rel(path), &st, AT_SYMLINK_NOFOLLOW) == 0) {
            pthread_mutex_lock(&lock);
            forget(st.st_ino);
            pthread_mutex_unlock(&lock);
        }
    }
    return 0;
}

static int op_mkdir(const char *path, mode_t mode) {
    int r = enospc(path);
    if (r) return r;
    return mkdirat(base_fd, rel(path), mode) < 0 ? -errno : 0;
}


static int op_unlink(const char *path) {
    struct stat st;
    int had = fstatat(base_fd, rel(path), &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (unlinkat(base_fd, rel(path), 0) < 0) return -errno;
    if (had && is_lazy(path) && S_ISREG(st.st_mode) && st.st_nlink <= 1) {
        pthread_mutex_lock(&lock);
        forget(st.st_ino);
        pthread_mutex_unlock(&lock);
    }
    return 0;
}

static int op_rmdir(const char *path) {
    return unlinkat(base_fd, rel(path), AT_REMOVEDIR) < 0 ? -errno : 0;
}

static int op_symlink(const char *target, const char *path) {
    int r = enospc(path);
    if (r) return r;
    return symlinkat(target, base_fd, rel(path)) < 0 ? -errno : 0;
}

static int op_rename(const char *from, const char *to, unsigned int flags) {
    struct stat st;
    int replaced = !(flags & RENAME_EXCHANGE) &&
                   fstatat(base_fd, rel(to), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                   S_ISREG(st.st_mode) && st.st_nlink <= 1 && is_lazy(to);
    if (renameat2(base_fd, rel(from), base_fd, rel(to), flags) < 0) return -errno;
    if (replaced) {
        pthread_mutex_lock(&lock);
        forget(st.st_ino);
        pthread_mutex_unlock(&lock);
    }
    return 0;
}

static int op_link(const char *from, const char *to) {
    int r = enospc(to);
    if (r) return r;
    return linkat(base_fd, rel(from), base_fd, rel(to), 0) < 0 ? -errno : 0;
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) {
    int r = fi && fi->fh ? fchmod(((struct fh *)fi->fh)->fd, mode)
                         : fchmodat(base_fd, rel(path), mode, 0);
    return r < 0 ? -errno : 0;
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi) {
    int r = fi && fi->fh ? fchown(((struct fh *)fi->fh)->fd, uid, gid)
                         : fchownat(base_fd, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW);
    return r < 0 ? -errno : 0;
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
    int lazy = fi && fi->fh ? ((struct fh *)fi->fh)->lazy : is_lazy(path);
    int fd = fi && fi->fh ? ((struct fh *)fi->fh)->fd : openat(base_fd, rel(path), O_WRONLY);
    if (fd < 0) return -errno;
    struct stat st;
    int r = fstat(fd, &st) < 0 ? -errno : 0;
    if (!r && lazy && enospc_on && size > st.st_size) r = -ENOSPC;
    if (!r && ftruncate(fd, size) < 0) r = -errno;
    if (!r && lazy) {
        pthread_mutex_lock(&lock);
        dirty(st.st_ino, size < st.st_size ? size : st.st_size, INF);
        pthread_mutex_unlock(&lock);
    }
    if (!(fi && fi->fh)) close(fd);
    return r;
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
    int r = fi && fi->fh ? futimens(((struct fh *)fi->fh)->fd, tv)
                         : utimensat(base_fd, rel(path), tv, AT_SYMLINK_NOFOLLOW);
    return r < 0 ? -errno : 0;
}

static int open_fh(const char *path, struct fuse_file_info *fi, int fd) {
    struct fh *h = calloc(1, sizeof *h);
    h->fd = fd;
    h->lazy = is_lazy(path);
    h->sync = (fi->flags & O_DSYNC) != 0;
    h->append = (fi->flags & O_APPEND) != 0;
    fi->fh = (uint64_t)(uintptr_t)h;
    return 0;
}

/* How the file underneath is opened: never synced by the host (what is durable is ours to
 * say), and readable, since a sync reads what was written. */
static int backing_flags(int flags) {
    flags &= ~(O_SYNC | O_DSYNC | O_DIRECT | O_CREAT | O_EXCL);
    if ((flags & O_ACCMODE) == O_WRONLY) flags = (flags & ~O_ACCMODE) | O_RDWR;
    return flags;
}

static int op_open(const char *path, struct fuse_file_info *fi) {
    if (is_ctl(path)) {
        fi->direct_io = 1;
        fi->fh = 0;
        return 0;
    }
    if (enospc_on && is_lazy(path) && (fi->flags & O_TRUNC)) return -ENOSPC;
    int fd = openat(base_fd, rel(path), backing_flags(fi->flags));
    if (fd < 0) return -errno;
    if (is_lazy(path) && (fi->flags & O_TRUNC)) {
        struct stat st;
        if (fstat(fd, &st) == 0) {
            pthread_mutex_lock(&lock);
            dirty(st.st_ino, 0, INF);
            pthread_mutex_unlock(&lock);
        }
    }
    return open_fh(path, fi, fd);
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
    int r = enospc(path);
    if (r) return r;
    int fd = openat(base_fd, rel(path), backing_flags(fi->flags) | O_CREAT, mode);
    if (fd < 0) return -errno;
    if (is_lazy(path)) {
        struct stat st;
        if (fstat(fd, &st) == 0) {
            pthread_mutex_lock(&lock);
            forget(st.st_ino);  /* a new inode: nothing of it is synced yet */
            pthread_mutex_unlock(&lock);
        }
    }
    return open_fh(path, fi, fd);
}

static int op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
    if (is_ctl(path)) {
        char s[1024];
        int n = status(s, sizeof s);
        if (off >= n) return 0;
        size_t k = (size_t)(n - off) < size ? (size_t)(n - off) : size;
        memcpy(buf, s + off, k);
        return (int)k;
    }
    ssize_t n = pread(((struct fh *)fi->fh)->fd, buf, size, off);
    return n < 0 ? -errno : (int)n;
}

static int op_write(const char *path, const char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi) {
    if (is_ctl(path)) {
        int r = control(buf, size);
        return r < 0 ? r : (int)size;
    }
    struct fh *h = (struct fh *)fi->fh;
    if (!h->lazy) {
        ssize_t n = pwrite(h->fd, buf, size, off);
        return n < 0 ? -errno : (int)n;
    }
    if (enospc_on) return -ENOSPC;
    slow();
    pthread_mutex_lock(&lock);
    struct stat st;
    int r = fstat(h->fd, &st) < 0 ? -errno : 0;
    ssize_t n = 0;
    if (!r) {
        if (h->append) off = st.st_size;  /* the backing descriptor appends too */
        n = pwrite(h->fd, buf, size, off);
        if (n < 0) r = -errno;
    }
    if (!r) {
        dirty(st.st_ino, off, off + n);
        if (h->sync) r = sync_fd(h->fd);
    }
    pthread_mutex_unlock(&lock);
    return r < 0 ? r : (int)n;
}

static int op_statfs(const char *path, struct statvfs *st) {
    (void)path;
    if (fstatvfs(base_fd, st) < 0) return -errno;
    if (enospc_on) st->f_bavail = st->f_bfree = 0;
    return 0;
}

static int op_flush(const char *path, struct fuse_file_info *fi) {
    (void)path, (void)fi;
    return 0;
}

static int op_release(const char *path, struct fuse_file_info *fi) {
    (void)path;
    struct fh *h = (struct fh *)fi->fh;
    if (h) {
        close(h->fd);
        free(h);
    }
    return 0;
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
    (void)path, (void)datasync;
    struct fh *h = (struct fh *)fi->fh;
    if (!h || !h->lazy) return 0;  /* outside LAZY a sync changes nothing we model */
    slow();
    pthread_mutex_lock(&lock);
    int r = sync_fd(h->fd);
    pthread_mutex_unlock(&lock);
    return r;
}

static int op_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi) {
    (void)datasync, (void)fi;
    if (!is_lazy(path)) return 0;
    slow();
    int dfd = openat(base_fd, rel(path), O_RDONLY | O_DIRECTORY);
    if (dfd < 0) return -errno;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return -EIO;
    }
    struct dirent *de;
    pthread_mutex_lock(&lock);
    while ((de = readdir(d)))
        if (de->d_type == DT_REG) get(de->d_ino, 1)->name_durable = 1;
    pthread_mutex_unlock(&lock);
    closedir(d);
    return 0;
}

static int op_fallocate(const char *path, int mode, off_t off, off_t len,
                        struct fuse_file_info *fi) {
    (void)path;
    struct fh *h = (struct fh *)fi->fh;
    if (h->lazy && enospc_on) return -ENOSPC;
    if (fallocate(h->fd, mode, off, len) < 0) return -errno;
    if (h->lazy) {
        struct stat st;
        if (fstat(h->fd, &st) == 0) {
            pthread_mutex_lock(&lock);
            dirty(st.st_ino, off, off + len);
            pthread_mutex_unlock(&lock);
        }
    }
    return 0;
}

static off_t op_lseek(const char *path, off_t off, int whence, struct fuse_file_info *fi) {
    (void)path;
    off_t r = lseek(((struct fh *)fi->fh)->fd, off, whence);
    return r < 0 ? -errno : r;
}

static const struct fuse_operations ops = {
    .init = op_init,
    .getattr = op_getattr,
    .access = op_access,
    .readlink = op_readlink,
    .readdir = op_readdir,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .chmod = op_chmod,
    .chown = op_chown,
    .truncate = op_truncate,
    .utimens = op_utimens,
    .open = op_open,
    .create = op_create,
    .read = op_read,
    .write = op_write,
    .statfs = op_statfs,
    .flush = op_flush,
    .release = op_release,
    .fsync = op_fsync,
    .fsyncdir = op_fsyncdir,
    .fallocate = op_fallocate,
    .lseek = op_lseek,
};

int main(int argc, char *argv[]) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s LAZY SHADOW MOUNTPOINT [fuse options]\n", argv[0]);
        return 2;
    }
    snprintf(lazy_rel, sizeof lazy_rel, "/%s", argv[1]);
    lazy_len = strlen(lazy_rel);
    while (lazy_len > 1 && lazy_rel[lazy_len - 1] == '/') lazy_rel[--lazy_len] = '\0';
    base_fd = open(argv[3], O_RDONLY | O_DIRECTORY);
    if (base_fd < 0) {
        perror(argv[3]);
        return 1;
    }
    mkdir(argv[2], 0700);
    shadow_fd = open(argv[2], O_RDONLY | O_DIRECTORY);
    if (shadow_fd < 0) {
        perror(argv[2]);
        return 1;
    }
    umask(0);
    adopt_dir(lazy_rel + 1);
    const char *shadow = argv[2];
    argv[2] = argv[0];
    int r = fuse_main(argc - 2, argv + 2, &ops, NULL);
    /* unmounted: the synced copies are of no use to anyone */
    DIR *d = fdopendir(shadow_fd);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.') unlinkat(shadow_fd, de->d_name, 0);
    if (d) closedir(d);
    rmdir(shadow);
    return r;
}
