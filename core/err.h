/*
 * err.h: the engine's two tiers of errors.
 *
 * 1. Bugs (a shape mismatch, an index out of range, a NULL where none is allowed) hit
 *    CHECK(cond, fmt, ...). It prints file:line, the message and a hint, then aborts, in
 *    every build mode: a program that has broken a contract cannot go on and give garbage.
 *
 * 2. Environment failures (a missing file, a bad magic number, malformed JSON, a truncated
 *    checkpoint) are not bugs: the function returns a negative Err code and keeps a message
 *    that the caller reads with err_msg(). The message names what failed, where (file, offset
 *    or field) and a hint.
 *
 * Every error, of either tier, passes through err_set() or engine_abort(); neither is ever
 * inlined, so `break err_set` and `break engine_abort` in gdb stop at the origin of every
 * failure in the engine.
 *
 * Ownership: err_msg() returns a borrowed string, valid until the next err_set() on the
 * same thread.
 *
 * Usage:
 *     int rc = st_load("model.safetensors", ...);
 *     if (rc != ERR_OK) {
 *         fprintf(stderr, "error: %s\n", err_msg());   // what, where, hint
 *         return 1;
 *     }
 *     CHECK(a->shape[1] == b->shape[0], "matmul: inner dims %lld vs %lld",
 *           (long long)a->shape[1], (long long)b->shape[0]);
 */
#ifndef CORE_ERR_H
#define CORE_ERR_H

#include <stddef.h>

typedef enum {
    ERR_OK = 0,
    ERR_IO = -1,       // the file system said no: missing, unreadable, disk full
    ERR_FORMAT = -2,   // the bytes are not what the format says (magic, version, field)
    ERR_TRUNCATED = -3,// the file ends before the format says it should
    ERR_RANGE = -4,    // a value is outside what the engine accepts (absurd size, offset)
    ERR_SHAPE = -5,    // a stored shape does not match the expected one
    ERR_NOTFOUND = -6, // a named thing (tensor, key, dataset) is absent
    ERR_INVALID = -7,  // bad input from a user: flag, query, JSON request
    ERR_NOMEM = -8,    // an allocation the caller asked to be recoverable failed
    ERR_DEPENDENCY = -9, // a package or tool the engine needs is not installed
} Err;

// Records an environment error and returns `code`, so a caller can write
// `return err_set(ERR_IO, "open %s: %s", path, strerror(errno));`.
// The message should name what failed and where; add "hint: ..." after a newline-free "; ".
int err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noinline));

// The last message set on this thread (borrowed; "" when none). Valid until the next err_set.
const char *err_msg(void);

// The last code set on this thread (ERR_OK when none).
int err_code(void);

// Forgets the last error (err_msg() returns "" afterwards).
void err_clear(void);

// A short name for a code: "io", "format", ...
const char *err_name(int code);

// Prints "file:line: check failed: <message>\nhint: <hint>" to stderr and aborts.
// Use through CHECK; noreturn and never inlined, so it is a breakpoint for every bug.
void engine_abort(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn, noinline));

// A bug check that stays on in every build mode. The message should say what was expected.
#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (__builtin_expect(!(cond), 0)) engine_abort(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

// Allocation that aborts on out-of-memory (the engine treats OOM as fatal, like Redis).
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

#endif
