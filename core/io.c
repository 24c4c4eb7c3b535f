/*
 * io.c: whole-file reads and atomic writes (see io.h for why temp + fsync + rename).
 */
#include "io.h"

#include "err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct IoAtomic {
    FILE *fp;
    char *path; // target
    char *tmp;  // temporary file next to the target (same file system, so rename is atomic)
};

int io_atomic_open(const char *path, IoAtomic **out)
{
    *out = NULL;
    size_t n = strlen(path) + 32;
    char *tmp = xmalloc(n);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        int e = errno;
        free(tmp);
        return err_set(ERR_IO, "cannot create %s: %s; hint: does the folder exist and is it writable?",
                       path, strerror(e));
    }
    IoAtomic *f = xmalloc(sizeof *f);
    f->fp = fp;
    f->path = xstrdup(path);
    f->tmp = tmp;
    *out = f;
    return ERR_OK;
}

FILE *io_atomic_fp(IoAtomic *f) { return f->fp; }

static void atomic_release(IoAtomic *f)
{
    free(f->path);
    free(f->tmp);
    free(f);
}

void io_atomic_abort(IoAtomic *f)
{
    if (!f) return;
    if (f->fp) fclose(f->fp);
    unlink(f->tmp);
    atomic_release(f);
}

int io_atomic_commit(IoAtomic *f)
{
    int rc = ERR_OK;
    int e = 0;
    if (ferror(f->fp) || fflush(f->fp) != 0 || fsync(fileno(f->fp)) != 0) {
        e = errno;
        rc = err_set(ERR_IO, "writing %s failed: %s; hint: is the disk full?", f->path,
                     strerror(e ? e : EIO));
    }
    if (fclose(f->fp) != 0 && rc == ERR_OK) {
        e = errno;
        rc = err_set(ERR_IO, "closing %s failed: %s", f->path, strerror(e));
    }
    f->fp = NULL;
    if (rc == ERR_OK && rename(f->tmp, f->path) != 0) {
        e = errno;
        rc = err_set(ERR_IO, "renaming %s to %s failed: %s", f->tmp, f->path, strerror(e));
    }
    if (rc != ERR_OK) unlink(f->tmp);
    atomic_release(f);
    return rc;
}

int io_write_atomic(const char *path, const void *data, size_t n)
{
    IoAtomic *f;
    int rc = io_atomic_open(path, &f);
    if (rc != ERR_OK) return rc;
    if (n && fwrite(data, 1, n, f->fp) != n) {
        int e = errno;
        io_atomic_abort(f);
        return err_set(ERR_IO, "writing %zu bytes to %s failed: %s", n, path, strerror(e));
    }
    return io_atomic_commit(f);
}

int io_read_all(const char *path, unsigned char **data, size_t *n)
{
    *data = NULL;
    *n = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return err_set(ERR_IO, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = xmalloc(cap + 1);
    for (;;) {
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (len < cap) break;
        cap *= 2;
        buf = xrealloc(buf, cap + 1);
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        free(buf);
        return err_set(ERR_IO, "reading %s failed", path);
    }
    buf[len] = 0;
    *data = buf;
    *n = len;
    return ERR_OK;
}

int io_mkdir_p(const char *path)
{
    char *p = xstrdup(path);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                int e = errno;
                int rc = err_set(ERR_IO, "cannot create folder %s: %s", p, strerror(e));
                free(p);
                return rc;
            }
            *s = c;
            if (c == '\0') break;
        }
    }
    free(p);
    return ERR_OK;
}
