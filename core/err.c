/*
 * err.c: the one place every error passes through (see err.h).
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char err_buf[1024];
static _Thread_local int err_last = ERR_OK;

int err_set(int code, const char *fmt, ...)
{
    // Format into a scratch buffer first: callers often wrap the previous message,
    // err_set(rc, "%s: %s", path, err_msg()), and that argument points into err_buf.
    char tmp[sizeof err_buf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(err_buf, tmp, sizeof err_buf);
    err_last = code;
    return code;
}

const char *err_msg(void) { return err_buf; }

int err_code(void) { return err_last; }

void err_clear(void)
{
    err_buf[0] = '\0';
    err_last = ERR_OK;
}

const char *err_name(int code)
{
    switch (code) {
    case ERR_OK: return "ok";
    case ERR_IO: return "io";
    case ERR_FORMAT: return "format";
    case ERR_TRUNCATED: return "truncated";
    case ERR_RANGE: return "range";
    case ERR_SHAPE: return "shape";
    case ERR_NOTFOUND: return "not found";
    case ERR_INVALID: return "invalid";
    case ERR_NOMEM: return "out of memory";
    case ERR_DEPENDENCY: return "missing dependency";
    }
    return "unknown";
}

void engine_abort(const char *file, int line, const char *fmt, ...)
{
    fflush(stdout);
    fprintf(stderr, "%s:%d: check failed: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nhint: this is a bug in the calling code (a broken contract), not bad data;"
                    " run under gdb with `break engine_abort` and `bt` to see the caller\n");
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    CHECK(p != NULL, "out of memory allocating %zu bytes", n);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    CHECK(p != NULL, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    CHECK(q != NULL, "out of memory reallocating %zu bytes", n);
    return q;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = xmalloc(n);
    memcpy(d, s, n);
    return d;
}
