/*
 * tok_bpe_train.c: learning BPE merges from a corpus.
 *
 * The algorithm (Sennrich et al. 2016, at the byte level as GPT-2 does it):
 *   1. Cut the corpus into pre-tokens (GPT-2's pattern, tok_pretok.c) and count each distinct
 *      one: a word seen 900 times is stored once with frequency 900. Merges never cross a
 *      pre-token boundary.
 *   2. Every word starts as its bytes; token id b is byte b, so the vocabulary starts at 256.
 *   3. Repeat until the vocabulary is big enough: take the adjacent pair (A, B) with the highest
 *      count, summed over words as frequency x occurrences; make the token AB (id = next free
 *      id, or the existing id if some earlier merge already spelled the same bytes); replace
 *      every occurrence of A B by AB in every word, left to right without overlap.
 *
 * Tie-break, documented because it decides the vocabulary: among pairs with the same count,
 * the pair with the smallest left id wins, then the smallest right id. Ids follow creation
 * order, so this prefers older (shorter, more basic) tokens, and it makes training a pure
 * function of the text and the size.
 *
 * Making it fast (a 5 MB corpus, 8k vocabulary in seconds, not hours):
 *   - pair counts are kept in a hash map and updated incrementally: a merge touches only the
 *     words that contain the pair, found through a per-pair list of word indices ("posting
 *     list", which may hold stale entries: words checked on use);
 *   - the best pair comes from a max-heap with lazy deletion. A merge only ever lowers the
 *     counts of pairs that do not involve the new token, and creates or raises only pairs that
 *     involve it; so we push a fresh entry exactly when a count rises, and when an entry pops
 *     whose count is no longer current we re-push it with its current (lower) count or drop
 *     it (if a newer entry exists). The first entry that pops with its current count is the
 *     true maximum under the tie-break order.
 */
#include "core/err.h"
#include "transformer/tok_internal.h"

#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

typedef struct {
    int64_t count;
    int32_t a, b;
} HeapEnt;

typedef struct {
    // Words: distinct pre-tokens, their tokens in one array (merges only shrink them).
    int64_t n_words;
    int32_t *sym;        // all words' tokens
    int64_t *wstart;     // (n_words) offset into sym
    int32_t *wlen;       // (n_words) current length in tokens
    int64_t *wfreq;      // (n_words) occurrences in the corpus
    int32_t *wstamp;     // (n_words) last merge that visited the word
    // Pairs.
    TokMap pair_idx;     // pair key -> pair index
    int64_t n_pairs, cap_pairs;
    int64_t *pcount;     // (n_pairs)
    int32_t (*pab)[2];   // (n_pairs) left, right
    int32_t **plist;     // (n_pairs) word indices containing the pair (maybe stale)
    int32_t *plen, *pcap;
    int32_t *pstamp;     // (n_pairs) last merge that queued a heap push
    // Heap.
    HeapEnt *heap;
    int64_t heap_n, heap_cap;
    // Vocabulary.
    int n_vocab, cap_vocab;
    uint8_t *vbytes;
    int64_t *voff;       // (n_vocab + 1)
    int64_t vbytes_cap;
    TokMap by_bytes;     // hash of token bytes -> id
} Trainer;

// ---------------------------------------------------------------------------
// Heap: max by count, then min by (a, b)
// ---------------------------------------------------------------------------

static bool heap_before(const HeapEnt *x, const HeapEnt *y)
{
    if (x->count != y->count) return x->count > y->count;
    if (x->a != y->a) return x->a < y->a;
    return x->b < y->b;
}

static void heap_push(Trainer *tr, int64_t count, int32_t a, int32_t b)
{
    if (tr->heap_n == tr->heap_cap) {
        tr->heap_cap = tr->heap_cap ? 2 * tr->heap_cap : 4096;
        tr->heap = xrealloc(tr->heap, (size_t)tr->heap_cap * sizeof *tr->heap);
    }
    HeapEnt e = {count, a, b};
    int64_t i = tr->heap_n++;
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (!heap_before(&e, &tr->heap[p])) break;
        tr->heap[i] = tr->heap[p];
        i = p;
    }
    tr->heap[i] = e;
}

static HeapEnt heap_pop(Trainer *tr)
{
    HeapEnt top = tr->heap[0], last = tr->heap[--tr->heap_n];
    int64_t i = 0, n = tr->heap_n;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_before(&tr->heap[c + 1], &tr->heap[c])) c++;
        if (!heap_before(&tr->heap[c], &last)) break;
        tr->heap[i] = tr->heap[c];
        i = c;
    }
    if (n > 0) tr->heap[i] = last;
    return top;
}

// ---------------------------------------------------------------------------
// Pairs and vocabulary
// ---------------------------------------------------------------------------

static int64_t pair_get_or_add(Trainer *tr, int32_t a, int32_t b)
{
    uint64_t key = tok_pair_key(a, b);
    int64_t p = tok_map_get(&tr->pair_idx, key);
    if (p >= 0) return p;
    if (tr->n_pairs == tr->cap_pairs) {
        int64_t c = tr->cap_pairs ? 2 * tr->cap_pairs : 65536;
        tr->pcount = xrealloc(tr->pcount, (size_t)c * sizeof *tr->pcount);
        tr->pab = xrealloc(tr->pab, (size_t)c * sizeof *tr->pab);
        tr->plist = xrealloc(tr->plist, (size_t)c * sizeof *tr->plist);
        tr->plen = xrealloc(tr->plen, (size_t)c * sizeof *tr->plen);
        tr->pcap = xrealloc(tr->pcap, (size_t)c * sizeof *tr->pcap);
        tr->pstamp = xrealloc(tr->pstamp, (size_t)c * sizeof *tr->pstamp);
        tr->cap_pairs = c;
    }
    p = tr->n_pairs++;
    tr->pcount[p] = 0;
    tr->pab[p][0] = a, tr->pab[p][1] = b;
    tr->plist[p] = NULL;
    tr->plen[p] = tr->pcap[p] = 0;
    tr->pstamp[p] = -1;
    tok_map_put(&tr->pair_idx, key, p);
    return p;
}

// Adds word w to pair p's list unless it was the last one added.
static void plist_add(Trainer *tr, int64_t p, int32_t w)
{
    if (tr->plen[p] > 0 && tr->plist[p][tr->plen[p] - 1] == w) return;
    if (tr->plen[p] == tr->pcap[p]) {
        tr->pcap[p] = tr->pcap[p] ? 2 * tr->pcap[p] : 4;
        tr->plist[p] = xrealloc(tr->plist[p], (size_t)tr->pcap[p] * sizeof(int32_t));
    }
    tr->plist[p][tr->plen[p]++] = w;
}

static int64_t vocab_find(const Trainer *tr, const uint8_t *s, size_t n)
{
    int64_t id = tok_map_get(&tr->by_bytes, tok_hash_bytes(s, n));
    if (id >= 0 && (size_t)(tr->voff[id + 1] - tr->voff[id]) == n &&
        memcmp(tr->vbytes + tr->voff[id], s, n) == 0)
        return id;
    return -1; // a 64-bit hash collision just means a (harmless) duplicate-bytes token
}

static int32_t vocab_add(Trainer *tr, int32_t a, int32_t b)
{
    int64_t la = tr->voff[a + 1] - tr->voff[a], lb = tr->voff[b + 1] - tr->voff[b];
    int64_t end = tr->voff[tr->n_vocab];
    if (end + la + lb > tr->vbytes_cap) {
        while (end + la + lb > tr->vbytes_cap) tr->vbytes_cap *= 2;
        tr->vbytes = xrealloc(tr->vbytes, (size_t)tr->vbytes_cap);
    }
    memcpy(tr->vbytes + end, tr->vbytes + tr->voff[a], (size_t)la);
    memcpy(tr->vbytes + end + la, tr->vbytes + tr->voff[b], (size_t)lb);
    int64_t old = vocab_find(tr, tr->vbytes + end, (size_t)(la + lb));
    if (old >= 0) return (int32_t)old;
    if (tr->n_vocab + 1 >= tr->cap_vocab) {
        tr->cap_vocab *= 2;
        tr->voff = xrealloc(tr->voff, (size_t)(tr->cap_vocab + 1) * sizeof *tr->voff);
    }
    int32_t id = tr->n_vocab++;
    tr->voff[id + 1] = end + la + lb;
    tok_map_put(&tr->by_bytes, tok_hash_bytes(tr->vbytes + end, (size_t)(la + lb)), id);
    return id;
}

// ---------------------------------------------------------------------------
// Setup: distinct words and the first pair counts
// ---------------------------------------------------------------------------

static void count_words(Trainer *tr, const uint8_t *s, size_t n)
{
    TokMap seen;
    tok_map_init(&seen, 1 << 16);
    int64_t cap = 1024, sym_cap = 16384, sym_len = 0;
    const uint8_t **wtext = xmalloc((size_t)cap * sizeof *wtext);
    tr->wstart = xmalloc((size_t)cap * sizeof *tr->wstart);
    tr->wlen = xmalloc((size_t)cap * sizeof *tr->wlen);
    tr->wfreq = xmalloc((size_t)cap * sizeof *tr->wfreq);
    tr->sym = xmalloc((size_t)sym_cap * sizeof *tr->sym);
    for (size_t p = 0, e; p < n; p = e) {
        e = tf_tok_pretok_next(s, n, p);
        size_t len = e - p;
        // Probe hash, hash', ... until the word or a free key: collisions stay distinct.
        uint64_t h = tok_hash_bytes(s + p, len);
        int64_t w;
        while ((w = tok_map_get(&seen, h)) >= 0 &&
               !(tr->wlen[w] == (int32_t)len && memcmp(wtext[w], s + p, len) == 0))
            h = h * 0x9E3779B97F4A7C15ull + 1;
        if (w >= 0) {
            tr->wfreq[w]++;
            continue;
        }
        CHECK(len < INT32_MAX, "tf_tok_bpe_train: a pre-token of %zu bytes", len);
        if (tr->n_words == cap) {
            cap *= 2;
            wtext = xrealloc(wtext, (size_t)cap * sizeof *wtext);
            tr->wstart = xrealloc(tr->wstart, (size_t)cap * sizeof *tr->wstart);
            tr->wlen = xrealloc(tr->wlen, (size_t)cap * sizeof *tr->wlen);
            tr->wfreq = xrealloc(tr->wfreq, (size_t)cap * sizeof *tr->wfreq);
        }
        while (sym_len + (int64_t)len > sym_cap) sym_cap *= 2;
        tr->sym = xrealloc(tr->sym, (size_t)sym_cap * sizeof *tr->sym);
        w = tr->n_words++;
        wtext[w] = s + p;
        tr->wstart[w] = sym_len;
        tr->wlen[w] = (int32_t)len;
        tr->wfreq[w] = 1;
        for (size_t i = 0; i < len; i++) tr->sym[sym_len++] = s[p + i];
        tok_map_put(&seen, h, w);
    }
    free(wtext);
    tok_map_deinit(&seen);
    tr->wstamp = xmalloc((size_t)(tr->n_words + 1) * sizeof *tr->wstamp);
    for (int64_t w = 0; w < tr->n_words; w++) tr->wstamp[w] = -1;
}

static void count_pairs(Trainer *tr)
{
    tok_map_init(&tr->pair_idx, 1 << 16);
    for (int64_t w = 0; w < tr->n_words; w++) {
        const int32_t *t = tr->sym + tr->wstart[w];
        for (int32_t i = 0; i + 1 < tr->wlen[w]; i++) {
            int64_t p = pair_get_or_add(tr, t[i], t[i + 1]);
            tr->pcount[p] += tr->wfreq[w];
            plist_add(tr, p, (int32_t)w);
        }
    }
    for (int64_t p = 0; p < tr->n_pairs; p++)
        heap_push(tr, tr->pcount[p], tr->pab[p][0], tr->pab[p][1]);
}

// ---------------------------------------------------------------------------
// One merge
// ---------------------------------------------------------------------------

// Applies merge number `step`, (a, b) -> x, to every word holding the pair, updating counts.
static void apply_merge(Trainer *tr, int32_t step, int64_t pair, int32_t a, int32_t b, int32_t x,
                        int32_t **touched, int64_t *touched_cap)
{
    // Copy the word list: adding pairs may move the arrays it lives in.
    int32_t n_list = tr->plen[pair];
    int32_t *list = xmalloc(((size_t)n_list + 1) * sizeof *list);
    memcpy(list, tr->plist[pair], (size_t)n_list * sizeof *list);
    int64_t n_touched = 0;
    for (int32_t k = 0; k < n_list; k++) {
        int32_t w = list[k];
        if (tr->wstamp[w] == step) continue;
        tr->wstamp[w] = step;
        int32_t *t = tr->sym + tr->wstart[w];
        int32_t len = tr->wlen[w];
        bool has = false;
        for (int32_t i = 0; i + 1 < len && !has; i++) has = t[i] == a && t[i + 1] == b;
        if (!has) continue; // a stale entry: an earlier merge already changed the word
        int64_t f = tr->wfreq[w];
        for (int32_t i = 0; i + 1 < len; i++)
            tr->pcount[tok_map_get(&tr->pair_idx, tok_pair_key(t[i], t[i + 1]))] -= f;
        int64_t merged = tf_tok_bpe_merge(t, len, a, b, x);
        len = tr->wlen[w] = (int32_t)(merged < len ? merged : len);
        for (int32_t i = 0; i + 1 < len; i++) {
            int64_t p = pair_get_or_add(tr, t[i], t[i + 1]);
            tr->pcount[p] += f;
            if (t[i] != x && t[i + 1] != x) continue;
            plist_add(tr, p, w);
            if (tr->pstamp[p] != step) { // its count rose: it needs a fresh heap entry
                tr->pstamp[p] = step;
                if (n_touched == *touched_cap) {
                    *touched_cap *= 2;
                    *touched = xrealloc(*touched, (size_t)*touched_cap * sizeof **touched);
                }
                (*touched)[n_touched++] = (int32_t)p;
            }
        }
    }
    for (int64_t k = 0; k < n_touched; k++) {
        int64_t p = (*touched)[k];
        if (tr->pcount[p] > 0) heap_push(tr, tr->pcount[p], tr->pab[p][0], tr->pab[p][1]);
    }
    free(list);
}

// ---------------------------------------------------------------------------
// Train
// ---------------------------------------------------------------------------

TfBpe *tf_tok_bpe_train(const void *text, size_t n, int vocab_size)
{
    CHECK(text || n == 0, "tf_tok_bpe_train: NULL text");
    CHECK(vocab_size >= 256 && vocab_size <= (1 << 24),
          "tf_tok_bpe_train: vocab_size %d outside 256..2^24", vocab_size);
    Trainer tr = {0};
    tr.cap_vocab = 1024;
    tr.voff = xmalloc((size_t)(tr.cap_vocab + 1) * sizeof *tr.voff);
    tr.vbytes_cap = 65536;
    tr.vbytes = xmalloc((size_t)tr.vbytes_cap);
    tok_map_init(&tr.by_bytes, (size_t)vocab_size);
    tr.voff[0] = 0;
    for (int b = 0; b < 256; b++) {
        tr.vbytes[b] = (uint8_t)b;
        tr.voff[b + 1] = b + 1;
        tok_map_put(&tr.by_bytes, tok_hash_bytes(tr.vbytes + b, 1), b);
    }
    tr.n_vocab = 256;
    count_words(&tr, text, n);
    count_pairs(&tr);

    int n_merges = 0, cap_merges = 1024;
    int32_t(*merges)[3] = xmalloc((size_t)cap_merges * sizeof *merges);
    int64_t touched_cap = 1024;
    int32_t *touched = xmalloc((size_t)touched_cap * sizeof *touched);
    while (tr.n_vocab < vocab_size && tr.heap_n > 0) {
        HeapEnt e = heap_pop(&tr);
        int64_t p = tok_map_get(&tr.pair_idx, tok_pair_key(e.a, e.b));
        int64_t cur = tr.pcount[p];
        if (cur != e.count) {
            // Stale. Too high: re-file at the current count. Too low: a newer entry exists.
            if (cur < e.count && cur > 0) heap_push(&tr, cur, e.a, e.b);
            continue;
        }
        if (cur <= 0) continue;
        int32_t x = vocab_add(&tr, e.a, e.b);
        if (n_merges == cap_merges) {
            cap_merges *= 2;
            merges = xrealloc(merges, (size_t)cap_merges * sizeof *merges);
        }
        merges[n_merges][0] = e.a, merges[n_merges][1] = e.b, merges[n_merges][2] = x;
        apply_merge(&tr, n_merges, p, e.a, e.b, x, &touched, &touched_cap);
        n_merges++;
    }
    TfBpe *t = tok_bpe_build(tr.n_vocab, tr.vbytes, tr.voff, n_merges,
                             (const int32_t(*)[3])merges);
    free(touched);
    free(merges);
    for (int64_t p = 0; p < tr.n_pairs; p++) free(tr.plist[p]);
    free(tr.plist), free(tr.plen), free(tr.pcap), free(tr.pstamp), free(tr.pcount), free(tr.pab);
    tok_map_deinit(&tr.pair_idx);
    free(tr.heap);
    free(tr.sym), free(tr.wstart), free(tr.wlen), free(tr.wfreq), free(tr.wstamp);
    free(tr.vbytes), free(tr.voff);
    tok_map_deinit(&tr.by_bytes);
    return t;
}
