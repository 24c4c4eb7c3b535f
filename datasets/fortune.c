/*
 * fortune.c: fortune files -> a list of texts (see fortune.h).
 */
#include "datasets/fortune.h"

#include "core/err.h"
#include "core/io.h"
#include "datasets/ds_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

// ---------------------------------------------------------------------------
// Splitting one file
// ---------------------------------------------------------------------------

static bool all_blank(const char *s, const char *e)
{
    for (; s < e; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') return false;
    return true;
}

// Appends the entry [s, e) to the storage at *at, minus its trailing newlines, and records
// its offset; blank entries are dropped.
static void add_entry(char *st, int64_t *at, const char *s, const char *e, int64_t src_at,
                      int64_t **text_at, int64_t **source_at, int64_t *n, int64_t *cap)
{
    while (e > s && (e[-1] == '\n' || e[-1] == '\r')) e--;
    if (all_blank(s, e)) return;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4096;
        *text_at = xrealloc(*text_at, (size_t)*cap * sizeof **text_at);
        *source_at = xrealloc(*source_at, (size_t)*cap * sizeof **source_at);
    }
    (*text_at)[*n] = *at;
    (*source_at)[*n] = src_at;
    (*n)++;
    memcpy(st + *at, s, (size_t)(e - s));
    *at += e - s;
    st[(*at)++] = '\0';
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

int ds_fortunes_load_files(const char *const *paths, int64_t n_paths, DsTextList *out)
{
    CHECK(out && (paths || n_paths == 0) && n_paths >= 0, "ds_fortunes_load_files: bad args");
    memset(out, 0, sizeof *out);
    unsigned char **bufs = xcalloc((size_t)(n_paths ? n_paths : 1), sizeof *bufs);
    size_t *lens = xcalloc((size_t)(n_paths ? n_paths : 1), sizeof *lens);
    int64_t *text_at = NULL, *source_at = NULL, n = 0, cap = 0;
    char *st = NULL;
    int rc = ERR_OK;

    // Read everything first: the storage is then one allocation of a known size, as every
    // entry is at most as long as its text plus a NUL.
    int64_t total = 0;
    for (int64_t i = 0; i < n_paths; i++) {
        if ((rc = io_read_all(paths[i], &bufs[i], &lens[i]))) goto done;
        const unsigned char *nul = memchr(bufs[i], '\0', lens[i]);
        if (nul) {
            rc = err_set(ERR_FORMAT,
                         "fortune: %s: NUL byte at offset %lld; hint: not a "
                         "fortune text file (is it the .dat table?)",
                         paths[i], (long long)(nul - bufs[i]));
            goto done;
        }
        total += (int64_t)lens[i] + 1 + (int64_t)strlen(paths[i]) + 1;
    }
    st = xmalloc((size_t)(total ? total : 1));
    int64_t at = 0;
    for (int64_t i = 0; i < n_paths; i++) {
        const char *slash = strrchr(paths[i], '/');
        const char *base = slash ? slash + 1 : paths[i];
        int64_t src_at = at;
        memcpy(st + at, base, strlen(base) + 1);
        at += (int64_t)strlen(base) + 1;

        // An entry ends at a line that is exactly "%" (or at the end of the file).
        const char *text = (const char *)bufs[i], *end = text + lens[i], *start = text;
        for (const char *p = text; p < end;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *le = nl ? nl : end;
            const char *next = nl ? nl + 1 : end;
            size_t ll = (size_t)(le - p);
            if (ll > 0 && p[ll - 1] == '\r') ll--;
            if (ll == 1 && p[0] == '%') {
                add_entry(st, &at, start, p, src_at, &text_at, &source_at, &n, &cap);
                start = next;
            }
            p = next;
        }
        add_entry(st, &at, start, end, src_at, &text_at, &source_at, &n, &cap);
    }
    out->n = n;
    out->texts = xmalloc((size_t)(n ? n : 1) * sizeof *out->texts);
    out->sources = xmalloc((size_t)(n ? n : 1) * sizeof *out->sources);
    for (int64_t k = 0; k < n; k++) {
        out->texts[k] = st + text_at[k];
        out->sources[k] = st + source_at[k];
    }
    out->storage_ = st;
    st = NULL;
done:
    for (int64_t i = 0; i < n_paths; i++) free(bufs[i]);
    free(bufs);
    free(lens);
    free(text_at);
    free(source_at);
    free(st);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int ds_fortunes_load(DsTextList *out)
{
    CHECK(out, "ds_fortunes_load: NULL argument");
    memset(out, 0, sizeof *out);
    char dir[DS_PATH_MAX];
    int rc = ds_data_path(dir, sizeof dir, "games/fortunes");
    if (rc) return rc;
    if ((rc = ds_require_file(dir, "fortune files", "fortunes"))) return rc;
    DIR *d = opendir(dir);
    if (!d)
        return err_set(ERR_IO, "fortune: cannot list %s: %s; hint: check its permissions", dir,
                       strerror(errno));

    // A fortune file is a regular file NAME with a NAME.dat beside it.
    char **paths = NULL;
    int64_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || (len > 4 && strcmp(e->d_name + len - 4, ".dat") == 0)) continue;
        char path[DS_PATH_MAX], dat[DS_PATH_MAX];
        int k1 = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        int k2 = snprintf(dat, sizeof dat, "%s/%s.dat", dir, e->d_name);
        if (k1 < 0 || k2 < 0 || (size_t)k2 >= sizeof dat) continue;
        struct stat sb;
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || access(dat, F_OK) != 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            paths = xrealloc(paths, (size_t)cap * sizeof *paths);
        }
        paths[n++] = xstrdup(path);
    }
    closedir(d);
    if (n == 0)
        rc = err_set(ERR_DEPENDENCY,
                     "fortune files not found: %s holds no NAME + NAME.dat "
                     "pair (Debian package fortunes); hint: run `make deps` or `sudo apt-get "
                     "install fortunes`",
                     dir);
    else {
        qsort(paths, (size_t)n, sizeof *paths, cmp_str);
        rc = ds_fortunes_load_files((const char *const *)paths, n, out);
    }
    for (int64_t i = 0; i < n; i++) free(paths[i]);
    free(paths);
    return rc;
}

void ds_text_list_free(DsTextList *l)
{
    if (!l) return;
    free(l->texts);
    free(l->sources);
    free(l->storage_);
    memset(l, 0, sizeof *l);
}
