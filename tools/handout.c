/*
 * handout.c: writes the student copy of the repository (`make handout`).
 *
 *     handout --out DIR [--weeks "2 3"]
 *
 * Copies every file of the repository (the files git knows: tracked ones plus untracked ones
 * that .gitignore does not exclude, so build/ and handout/ never come along) into DIR, keeping
 * each file's mode. In .c and .h files every exercise region (core/exercise.h) of a selected
 * week is rewritten:
 *
 *     // EXERCISE(w02.cosine): return dot(a, b) / (|a| |b|) ...   kept (the instructions)
 *     // ...more instruction lines...                              kept
 *     // STUB: exercise_stub("w02.cosine"); return NAN;            -> exercise_stub(...); ...
 *     ...reference solution...                                     removed
 *     // END EXERCISE                                              removed
 *
 * Regions of other weeks are copied unchanged. Several consecutive STUB lines are allowed (a
 * stub that needs more than one line). Every .c/.h file is checked first and nothing is
 * written if any marker is malformed: an EXERCISE without END, a nested EXERCISE, a region
 * without a STUB line, code between the instructions and the STUB, a STUB or END outside a
 * region, an id that is not "wNN.name", or an id used twice. Each error names file:line.
 *
 * DIR also gets a HANDOUT.md listing the stubbed exercises (id, file:line in the handout copy,
 * first line of the instructions). DIR must be new, empty, or a previous handout (it has a
 * HANDOUT.md); files are overwritten in place.
 *
 * Exit status: 0 on success, 1 on a malformed marker or an I/O failure, 2 on bad usage.
 */
#include "core/err.h"
#include "core/io.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_WEEK 99
#define MAX_ID 48

typedef struct {
    char id[MAX_ID]; // "w02.cosine"
    int week;        // 2
    char *file;      // repository-relative path (owned)
    int src_line;    // line of the EXERCISE marker in the reference file (1-based)
    int out_line;    // its line in the handout copy (0 when the region is not stubbed)
    char *summary;   // first line of the instructions (owned)
} Exercise;

typedef struct {
    Exercise *v;
    int n, cap;
} ExerciseList;

// A growable byte buffer: the rewritten text of one source file.
typedef struct {
    char *p;
    size_t n, cap;
} Buf;

typedef enum { MARK_NONE, MARK_EXERCISE, MARK_STUB, MARK_END } MarkKind;

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

static void buf_put(Buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static const char *skip_blanks(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\t')) s++;
    return s;
}

// If the line is a `//` comment (after indentation), returns the text after `//` and its
// blanks; otherwise NULL.
static const char *comment_text(const char *line, const char *end)
{
    const char *s = skip_blanks(line, end);
    if (end - s < 2 || s[0] != '/' || s[1] != '/') return NULL;
    return skip_blanks(s + 2, end);
}

static bool starts(const char *s, const char *end, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(end - s) >= n && memcmp(s, word, n) == 0;
}

// Classifies a line. A marker's keyword is followed by '(' (or ':' or nothing, which
// parse_id then reports as malformed); any other word after the `//` keeps the line prose.
static MarkKind mark_kind(const char *line, const char *end)
{
    const char *c = comment_text(line, end);
    if (!c) return MARK_NONE;
    if (starts(c, end, "EXERCISE")) {
        const char *a = c + 8;
        if (a == end || *a == '(' || *a == ':') return MARK_EXERCISE;
    }
    if (starts(c, end, "STUB:")) return MARK_STUB;
    if (starts(c, end, "END EXERCISE")) return MARK_END;
    return MARK_NONE;
}

// Parses "EXERCISE(wNN.name): text" from a marker line. On success fills id, week and the
// instruction text (borrowed pointer into the line, trimmed). Returns false when malformed.
static bool parse_id(const char *line, const char *end, char *id, int *week, const char **text,
                     const char **text_end)
{
    const char *c = comment_text(line, end) + 8; // after "EXERCISE"
    if (c >= end || *c != '(') return false;
    const char *s = c + 1, *p = s;
    if (p >= end || *p != 'w') return false;
    p++;
    if (end - p < 3 || !isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) ||
        p[2] != '.')
        return false;
    *week = (p[0] - '0') * 10 + (p[1] - '0');
    p += 3;
    const char *name = p;
    while (p < end && (islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_')) p++;
    if (p == name || p >= end || *p != ')' || p + 1 >= end || p[1] != ':') return false;
    if ((size_t)(p - s) >= MAX_ID) return false;
    memcpy(id, s, (size_t)(p - s));
    id[p - s] = '\0';
    const char *t = skip_blanks(p + 2, end), *te = end;
    while (te > t && isspace((unsigned char)te[-1])) te--;
    *text = t;
    *text_end = te;
    return true;
}

static void exercise_add(ExerciseList *l, const char *id, int week, const char *file, int line,
                         const char *text, size_t text_n)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = xrealloc(l->v, (size_t)l->cap * sizeof *l->v);
    }
    Exercise *e = &l->v[l->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->id, sizeof e->id, "%s", id);
    e->week = week;
    e->file = xstrdup(file);
    e->src_line = line;
    e->summary = xmalloc(text_n + 1);
    memcpy(e->summary, text, text_n);
    e->summary[text_n] = '\0';
}

// ---------------------------------------------------------------------------
// Rewriting one source file
// ---------------------------------------------------------------------------

typedef enum { ST_OUT, ST_INSTR, ST_STUB, ST_REF } State;

/*
 * Scans `text` (n bytes, a .c or .h file named `path`), appends the exercises it finds to `ex`
 * and writes the handout version to `out`. `weeks[w]` says whether week w is stubbed. Sets
 * *changed when at least one region was stubbed. Returns ERR_OK or ERR_FORMAT (message names
 * path:line). On error the exercises of this file are removed from `ex` again.
 */
static int rewrite_source(const char *path, const char *text, size_t n, const bool *weeks,
                          ExerciseList *ex, Buf *out, bool *changed)
{
    State st = ST_OUT;
    int lineno = 0, out_lines = 0, open_line = 0;
    int first_ex = ex->n;
    bool stub = false;             // is the open region stubbed in the handout?
    Exercise *cur = NULL;
    const char *p = text, *end = text + n;
    *changed = false;
    int rc = ERR_OK;
    while (p < end && rc == ERR_OK) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *next = nl ? nl + 1 : end;
        const char *le = nl ? nl : end; // line content end (without '\n')
        if (le > p && le[-1] == '\r') le--;
        lineno++;
        MarkKind k = mark_kind(p, le);
        bool keep = true;            // copy the line unchanged
        const char *stub_code = NULL; // a STUB line to emit uncommented
        switch (st) {
        case ST_OUT:
            if (k == MARK_EXERCISE) {
                char id[MAX_ID];
                int week;
                const char *t, *te;
                if (!parse_id(p, le, id, &week, &t, &te)) {
                    rc = err_set(ERR_FORMAT,
                                 "%s:%d: malformed EXERCISE marker; hint: write "
                                 "`// EXERCISE(wNN.name): instructions` with NN the two-digit "
                                 "week and name in [a-z0-9_]",
                                 path, lineno);
                    break;
                }
                for (int i = 0; i < ex->n; i++)
                    if (strcmp(ex->v[i].id, id) == 0)
                        rc = err_set(ERR_FORMAT,
                                     "%s:%d: exercise id %s is already used at %s:%d; hint: "
                                     "each id names one region and one graded TCase",
                                     path, lineno, id, ex->v[i].file, ex->v[i].src_line);
                if (rc != ERR_OK) break;
                exercise_add(ex, id, week, path, lineno, t, (size_t)(te - t));
                cur = &ex->v[ex->n - 1];
                stub = weeks[week];
                if (stub) cur->out_line = out_lines + 1;
                open_line = lineno;
                st = ST_INSTR;
            } else if (k == MARK_STUB) {
                rc = err_set(ERR_FORMAT,
                             "%s:%d: STUB line outside an exercise; hint: it belongs after the "
                             "`// EXERCISE(wNN.name): ...` instruction lines",
                             path, lineno);
            } else if (k == MARK_END) {
                rc = err_set(ERR_FORMAT,
                             "%s:%d: END EXERCISE without an open EXERCISE; hint: remove it or "
                             "add the `// EXERCISE(wNN.name): ...` line it closes",
                             path, lineno);
            }
            break;
        case ST_INSTR:
        case ST_STUB:
        case ST_REF:
            if (k == MARK_EXERCISE) {
                rc = err_set(ERR_FORMAT,
                             "%s:%d: EXERCISE inside exercise %s opened at line %d; hint: "
                             "exercises cannot nest, close the first with `// END EXERCISE`",
                             path, lineno, cur->id, open_line);
            } else if (k == MARK_STUB && st == ST_REF) {
                rc = err_set(ERR_FORMAT,
                             "%s:%d: STUB line after reference code in exercise %s (line %d); "
                             "hint: the STUB lines come right after the instructions",
                             path, lineno, cur->id, open_line);
            } else if (k == MARK_STUB) {
                st = ST_STUB;
                if (stub) {
                    stub_code = comment_text(p, le) + 5;
                    keep = false;
                }
            } else if (k == MARK_END && st == ST_INSTR) {
                rc = err_set(ERR_FORMAT,
                             "%s:%d: exercise %s (line %d) has no `// STUB: code` line; hint: "
                             "the stub compiles in the handout and makes the graded tests fail",
                             path, lineno, cur->id, open_line);
            } else if (k == MARK_END) {
                st = ST_OUT;
                keep = !stub;
                cur = NULL;
            } else if (st == ST_INSTR && !comment_text(p, le)) {
                rc = err_set(ERR_FORMAT,
                             "%s:%d: exercise %s (line %d) has no `// STUB: code` line after "
                             "its instructions; hint: the instructions are `//` lines followed "
                             "by the STUB line",
                             path, lineno, cur->id, open_line);
            } else if (st != ST_INSTR) {
                st = ST_REF;
                keep = !stub;
            }
            break;
        }
        if (rc != ERR_OK) break;
        if (stub_code) {
            // The stub keeps the STUB line's indentation; "// STUB: " is dropped.
            const char *ind_end = skip_blanks(p, le);
            buf_put(out, p, (size_t)(ind_end - p));
            stub_code = skip_blanks(stub_code, le);
            buf_put(out, stub_code, (size_t)(le - stub_code));
            buf_put(out, le, (size_t)(next - le)); // the original line ending
            out_lines++;
            *changed = true;
        } else if (keep) {
            buf_put(out, p, (size_t)(next - p));
            out_lines++;
        } else {
            *changed = true;
        }
        p = next;
    }
    if (rc == ERR_OK && st != ST_OUT)
        rc = err_set(ERR_FORMAT,
                     "%s:%d: exercise %s has no `// END EXERCISE` line before the end of the "
                     "file; hint: close the region after the reference solution",
                     path, open_line, cur->id);
    if (rc != ERR_OK) {
        for (int i = first_ex; i < ex->n; i++) {
            free(ex->v[i].file);
            free(ex->v[i].summary);
        }
        ex->n = first_ex;
    }
    return rc;
}

// ---------------------------------------------------------------------------
// The repository: listing, checking, copying
// ---------------------------------------------------------------------------

// Runs a shell command and returns its whole stdout (malloc'd, NUL-terminated), or NULL when
// it fails; *n gets the length.
static char *run_capture(const char *cmd, size_t *n)
{
    FILE *fp = popen(cmd, "r");
    if (!fp) return NULL;
    Buf b = {0};
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, fp)) > 0) buf_put(&b, chunk, got);
    int status = pclose(fp);
    if (status != 0) {
        free(b.p);
        return NULL;
    }
    if (!b.p) buf_put(&b, "", 0);
    *n = b.n;
    return b.p;
}

static int parse_weeks(const char *s, bool *weeks)
{
    memset(weeks, 0, (MAX_WEEK + 1) * sizeof *weeks);
    int count = 0;
    while (*s) {
        if (*s == ' ' || *s == ',' || *s == '\t') {
            s++;
            continue;
        }
        char *e;
        long w = strtol(s, &e, 10);
        if (e == s || w < 0 || w > MAX_WEEK || !(*e == '\0' || *e == ' ' || *e == ',')) return -1;
        weeks[w] = true;
        count++;
        s = e;
    }
    return count;
}

static int mkdir_parent(const char *path)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    int rc = ERR_OK;
    if (slash) {
        *slash = '\0';
        rc = io_mkdir_p(dir);
    }
    free(dir);
    return rc;
}

// Writes one file into the handout: either `text` (rewritten source) or a copy of `src`, with
// the source's permission bits. Symbolic links are recreated as links.
static int write_one(const char *src, const char *dst, const char *text, size_t n,
                     const struct stat *sb)
{
    int rc = mkdir_parent(dst);
    if (rc != ERR_OK) return rc;
    if (S_ISLNK(sb->st_mode)) {
        char target[PATH_MAX];
        ssize_t len = readlink(src, target, sizeof target - 1);
        if (len < 0) return err_set(ERR_IO, "readlink %s: %s", src, strerror(errno));
        target[len] = '\0';
        unlink(dst);
        if (symlink(target, dst) != 0)
            return err_set(ERR_IO, "symlink %s: %s", dst, strerror(errno));
        return ERR_OK;
    }
    if (text) {
        rc = io_write_atomic(dst, text, n);
    } else {
        unsigned char *data;
        size_t len;
        rc = io_read_all(src, &data, &len);
        if (rc != ERR_OK) return rc;
        rc = io_write_atomic(dst, data, len);
        free(data);
    }
    if (rc != ERR_OK) return rc;
    if (chmod(dst, sb->st_mode & 07777) != 0)
        return err_set(ERR_IO, "chmod %s: %s", dst, strerror(errno));
    return ERR_OK;
}

// OK when `dir` does not exist, is empty, or holds a previous handout (a HANDOUT.md).
static int check_out_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? ERR_OK : err_set(ERR_IO, "open %s: %s", dir, strerror(errno));
    bool empty = true, ours = false;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        empty = false;
        if (strcmp(de->d_name, "HANDOUT.md") == 0) ours = true;
    }
    closedir(d);
    if (!empty && !ours)
        return err_set(ERR_INVALID,
                       "--out %s is not empty and holds no HANDOUT.md (not a previous handout); "
                       "hint: choose a new folder or remove this one",
                       dir);
    return ERR_OK;
}

static void md_escaped(Buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') buf_put(b, "\\", 1);
        buf_put(b, s, 1);
    }
}

static int write_handout_md(const char *out_dir, const ExerciseList *ex, const char *weeks_arg,
                            int n_stubbed)
{
    Buf b = {0};
    char line[512];
    snprintf(line, sizeof line,
             "# Handout\n\n"
             "Written by `make handout` (weeks: %s). Each exercise below is a region whose "
             "reference\nsolution was replaced by a stub; its instructions are the comment "
             "lines above the stub.\nBuild with `make`, then check your work with "
             "`make grade WEEK=N`.\n\n",
             weeks_arg ? weeks_arg : "all");
    buf_put(&b, line, strlen(line));
    if (n_stubbed == 0) {
        const char *none = "No exercise was stubbed.\n";
        buf_put(&b, none, strlen(none));
    } else {
        const char *head = "| exercise | where | what to do |\n|---|---|---|\n";
        buf_put(&b, head, strlen(head));
    }
    for (int i = 0; i < ex->n; i++) {
        const Exercise *e = &ex->v[i];
        if (!e->out_line) continue;
        snprintf(line, sizeof line, "| %s | %s:%d | ", e->id, e->file, e->out_line);
        buf_put(&b, line, strlen(line));
        md_escaped(&b, e->summary);
        buf_put(&b, " |\n", 3);
    }
    size_t n = strlen(out_dir) + 16;
    char *path = xmalloc(n);
    snprintf(path, n, "%s/HANDOUT.md", out_dir);
    int rc = io_write_atomic(path, b.p, b.n);
    free(path);
    free(b.p);
    return rc;
}

static int cmp_exercise(const void *a, const void *b)
{
    const Exercise *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : x->src_line - y->src_line;
}

static void usage(void)
{
    fprintf(stderr, "usage: handout --out DIR [--weeks \"2 3\"]\n"
                    "  writes the student copy of the repository into DIR, with the exercise\n"
                    "  regions of the given weeks (default: all) replaced by their stubs\n");
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

int main(int argc, char **argv)
{
    const char *out = NULL, *weeks_arg = NULL;
    bool weeks[MAX_WEEK + 1];
    for (int w = 0; w <= MAX_WEEK; w++) weeks[w] = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(argv[i], "--weeks") == 0 && i + 1 < argc) {
            weeks_arg = argv[++i];
            if (parse_weeks(weeks_arg, weeks) <= 0) {
                fprintf(stderr, "handout: bad --weeks '%s'; hint: week numbers 0..%d, e.g. "
                                "--weeks \"2 3\"\n",
                        weeks_arg, MAX_WEEK);
                return 2;
            }
        } else {
            usage();
            return 2;
        }
    }
    if (!out || !*out) {
        usage();
        return 2;
    }

    // Resolve the output folder before moving to the repository root (it may be relative).
    // It is created only after every marker has been checked, so a failed run writes nothing.
    int rc = check_out_dir(out);
    if (rc != ERR_OK) {
        fprintf(stderr, "handout: %s\n", err_msg());
        return 1;
    }
    char cwd[PATH_MAX], out_abs[PATH_MAX], root[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) {
        fprintf(stderr, "handout: getcwd: %s\n", strerror(errno));
        return 1;
    }
    bool out_exists = realpath(out, out_abs) != NULL;
    if (!out_exists) {
        int k = out[0] == '/' ? snprintf(out_abs, sizeof out_abs, "%s", out)
                              : snprintf(out_abs, sizeof out_abs, "%s/%s", cwd, out);
        if (k < 0 || (size_t)k >= sizeof out_abs) {
            fprintf(stderr, "handout: --out path too long: %s\n", out);
            return 1;
        }
    }
    size_t n_top;
    char *top = run_capture("git rev-parse --show-toplevel", &n_top);
    if (!top || n_top < 2) {
        fprintf(stderr, "handout: not inside a git work tree; hint: run it from the repository "
                        "(make handout)\n");
        free(top);
        return 1;
    }
    top[strcspn(top, "\n")] = '\0';
    if (!realpath(top, root) || chdir(root) != 0) {
        fprintf(stderr, "handout: cannot enter the repository root %s\n", top);
        free(top);
        return 1;
    }
    free(top);
    size_t root_n = strlen(root), out_n = strlen(out_abs);
    if (out_exists && (strcmp(out_abs, root) == 0 ||
                       (strncmp(root, out_abs, out_n) == 0 && root[out_n] == '/'))) {
        fprintf(stderr, "handout: --out %s is the repository or one of its parents; hint: "
                        "write the handout to a new folder\n",
                out);
        return 1;
    }
    // When DIR already exists inside the repository, its files must not be copied into it.
    const char *skip_prefix = NULL;
    if (out_exists && strncmp(out_abs, root, root_n) == 0 && out_abs[root_n] == '/')
        skip_prefix = out_abs + root_n + 1;

    // Tracked files plus untracked files that .gitignore does not exclude (-z: NUL-separated,
    // so no quoting of unusual names).
    size_t list_n;
    char *list = run_capture("git ls-files -z --cached --others --exclude-standard", &list_n);
    if (!list) {
        fprintf(stderr, "handout: `git ls-files` failed in %s\n", root);
        return 1;
    }

    // Pass 1: read and rewrite every source file, collecting all marker errors.
    int n_files = 0;
    for (size_t off = 0; off < list_n; off += strlen(list + off) + 1) n_files++;
    char **paths = xcalloc((size_t)n_files + 1, sizeof *paths);
    Buf *texts = xcalloc((size_t)n_files + 1, sizeof *texts);
    bool *changed = xcalloc((size_t)n_files + 1, sizeof *changed);
    ExerciseList ex = {0};
    int n_err = 0, n = 0;
    for (size_t off = 0; off < list_n; off += strlen(list + off) + 1) {
        const char *path = list + off;
        size_t pl = skip_prefix ? strlen(skip_prefix) : 0;
        if (skip_prefix && strncmp(path, skip_prefix, pl) == 0 && path[pl] == '/') continue;
        // `git ls-files --cached` also lists a file deleted from the work tree but still in
        // the index (and a submodule as a folder): skip both.
        struct stat sb;
        if (lstat(path, &sb) != 0 || S_ISDIR(sb.st_mode)) continue;
        if (n > 0 && strcmp(paths[n - 1], path) == 0) continue; // unmerged entries repeat
        paths[n] = xstrdup(path);
        if (S_ISREG(sb.st_mode) && (ends_with(path, ".c") || ends_with(path, ".h"))) {
            unsigned char *data;
            size_t len;
            rc = io_read_all(path, &data, &len);
            if (rc == ERR_OK)
                rc = rewrite_source(path, (const char *)data, len, weeks, &ex, &texts[n],
                                    &changed[n]);
            free(data);
            if (rc != ERR_OK) {
                fprintf(stderr, "handout: %s\n", err_msg());
                n_err++;
            }
        }
        n++;
    }
    free(list);

    // Pass 2: write the files (only when every marker was well formed).
    if (n_err == 0) {
        rc = io_mkdir_p(out_abs);
        if (rc != ERR_OK) {
            fprintf(stderr, "handout: %s\n", err_msg());
            n_err++;
        }
    }
    int n_stubbed = 0, n_changed = 0;
    for (int i = 0; i < ex.n; i++) n_stubbed += ex.v[i].out_line != 0;
    for (int i = 0; i < n && n_err == 0; i++) {
        struct stat sb;
        size_t dn = strlen(out_abs) + strlen(paths[i]) + 2;
        char *dst = xmalloc(dn);
        snprintf(dst, dn, "%s/%s", out_abs, paths[i]);
        rc = lstat(paths[i], &sb) == 0 ? ERR_OK : err_set(ERR_IO, "stat %s: %s", paths[i],
                                                          strerror(errno));
        if (rc == ERR_OK)
            rc = write_one(paths[i], dst, changed[i] ? texts[i].p : NULL, texts[i].n, &sb);
        if (rc != ERR_OK) {
            fprintf(stderr, "handout: %s\n", err_msg());
            n_err++;
        }
        n_changed += changed[i];
        free(dst);
    }
    qsort(ex.v, (size_t)ex.n, sizeof *ex.v, cmp_exercise);
    if (n_err == 0) {
        rc = write_handout_md(out_abs, &ex, weeks_arg, n_stubbed);
        if (rc != ERR_OK) {
            fprintf(stderr, "handout: %s\n", err_msg());
            n_err++;
        }
    }
    if (n_err == 0)
        printf("handout: %d files copied to %s; %d exercise%s stubbed in %d file%s (weeks: %s)\n",
               n, out, n_stubbed, n_stubbed == 1 ? "" : "s", n_changed, n_changed == 1 ? "" : "s",
               weeks_arg ? weeks_arg : "all");
    else
        fprintf(stderr, "handout: %d error%s; see above\n", n_err,
                n_err == 1 ? "" : "s");

    for (int i = 0; i < n; i++) {
        free(paths[i]);
        free(texts[i].p);
    }
    for (int i = 0; i < ex.n; i++) {
        free(ex.v[i].file);
        free(ex.v[i].summary);
    }
    free(ex.v);
    free(paths);
    free(texts);
    free(changed);
    return n_err ? 1 : 0;
}
