/*
 * corpus.c: several text sources joined into one training text (see datasets.h).
 */
#include "datasets/datasets.h"

#include <stdlib.h>
#include <string.h>

// A growing byte buffer, always NUL-terminated.
typedef struct {
    char *p;
    size_t n, cap;
} Buf;

static void buf_add(Buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : (1 << 20);
        while (c < b->n + n + 1) c *= 2;
        b->p = xrealloc(b->p, c);
        b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

// Adds one text, with a blank line before it unless it is the first.
static void add_text(Buf *b, const char *s)
{
    size_t n = strlen(s);
    if (n == 0) return;
    if (b->n) buf_add(b, "\n\n", 2);
    buf_add(b, s, n);
}

static int add_source(Buf *b, const char *name)
{
    if (strcmp(name, "fortunes") == 0) {
        DsTextList f;
        int rc = ds_fortunes_load(&f);
        if (rc) return rc;
        for (int64_t i = 0; i < f.n; i++) add_text(b, f.texts[i]);
        ds_text_list_free(&f);
        return ERR_OK;
    }
    DsDict d;
    int rc = ds_dict_load(name, &d);
    if (rc) return rc;
    for (int64_t i = 0; i < d.n; i++) {
        if (d.entries[i].alias) continue;
        char *body = ds_dict_body(&d.entries[i]);
        add_text(b, body);
        free(body);
    }
    ds_dict_free(&d);
    return ERR_OK;
}

int ds_corpus_text(const char *sources, char **out, size_t *len)
{
    CHECK(sources && out && len, "ds_corpus_text: NULL argument");
    *out = NULL;
    *len = 0;
    Buf b = {0};
    int rc = ERR_OK;
    const char *p = sources;
    do {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char name[80];
        if (n == 0 || n >= sizeof name) {
            rc = err_set(ERR_INVALID,
                         "corpus: source list '%s' has an empty or too long name; "
                         "hint: write e.g. \"foldoc,jargon,fortunes\"",
                         sources);
            break;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        if ((rc = add_source(&b, name))) break;
        p = comma ? comma + 1 : NULL;
    } while (p);
    if (rc) {
        free(b.p);
        return rc;
    }
    if (!b.p) buf_add(&b, "", 0);
    *out = b.p;
    *len = b.n;
    return ERR_OK;
}
