/*
 * wordnet.h: the WordNet 3.0 lexical database (synsets, their words, glosses and hypernyms).
 *
 * WordNet groups English words into synsets: sets of words that share one meaning ("car",
 * "auto", "automobile", "machine", "motorcar": a motor vehicle with four wheels ...). Each
 * synset has a gloss (its definition and examples) and pointers to other synsets; the
 * hypernym pointer ("@", is-a) leads to a more general synset (car -> motor vehicle).
 *
 * The Debian package wordnet-base ships /usr/share/wordnet/data.{noun,verb,adj,adv} (or
 * $ENGINE_DATA_ROOT/wordnet/). After a license header (lines that begin with two spaces), each
 * line is one synset, fields separated by single spaces:
 *
 *     synset_offset lex_filenum ss_type w_cnt [word lex_id]*w_cnt p_cnt
 *         [pointer_symbol offset pos source/target]*p_cnt [frames, verbs only] | gloss
 *
 *   synset_offset  8 decimal digits: the byte offset of this line in its file (WordNet's id)
 *   lex_filenum    2 decimal digits;   ss_type  n v a s r (s = satellite adjective)
 *   w_cnt          2 hex digits;       lex_id   1 hex digit
 *   p_cnt          3 decimal digits;   source/target  4 hex digits
 *   frames         f_cnt (2 decimal digits), then f_cnt x "+ f_num w_num"
 *
 * Words are stored as WordNet writes them except that underscores become spaces ("motor
 * vehicle"), and the syntactic marker of some adjectives ("galore(ip)") is removed. The
 * index.* files are not read: the data files hold every word, and the lookup below is built
 * from them.
 *
 * Validation: every field is checked (digits, counts, the offset equal to the line's byte
 * offset, ss_type agreeing with the file, the '|' before the gloss, hypernyms pointing at a
 * synset that exists). A bad line is ERR_FORMAT with "file:line", the field and a hint.
 *
 * Ownership: a DsWordNet filled by a load owns everything in it; ds_wordnet_free releases it
 * (NULL and zeroed structs are no-ops). All strings are borrowed from it. On failure *out is
 * zeroed.
 *
 * Usage:
 *     DsWordNet wn;
 *     if (ds_wordnet_load(&wn) != ERR_OK) die(err_msg());           // names wordnet-base
 *     int64_t ids[16];
 *     int64_t k = ds_wordnet_lookup(&wn, "car", ids, 16);           // synsets holding "car"
 *     for (int64_t i = 0; i < k && i < 16; i++) {
 *         const DsSynset *s = &wn.synsets[ids[i]];
 *         for (int64_t w = 0; w < s->n_words; w++)                   // its synonyms
 *             printf("%s, ", ds_wordnet_word(&wn, ids[i], w));
 *         printf("-- %s\n", s->gloss);
 *     }
 *     ds_wordnet_free(&wn);
 */
#ifndef DATASETS_WORDNET_H
#define DATASETS_WORDNET_H

#include <stdbool.h>
#include <stdint.h>

// The four data files, in load order.
typedef enum { DS_WN_NOUN, DS_WN_VERB, DS_WN_ADJ, DS_WN_ADV, DS_WN_NFILES } DsWnFile;

typedef struct {
    int64_t offset;    // synset_offset: byte offset in its data file (ids repeat across files)
    char pos;          // ss_type: 'n', 'v', 'a', 's' (satellite adjective) or 'r' (adverb)
    int lex_filenum;   // the lexicographer file (0..44): 'noun.artifact' and so on
    int64_t word0;     // its words are wn->words[word0 .. word0 + n_words)
    int64_t n_words;   // how many (w_cnt, at least 1)
    int64_t hyper0;    // its hypernyms (synset indices) are wn->hypernyms[hyper0 .. + n_hypers)
    int64_t n_hypers;  // how many (0 for the roots and for most adjectives, adverbs)
    const char *gloss; // definition and examples, without the leading "| "
} DsSynset;

typedef struct DsWnKey DsWnKey; // internal: one (word, synset) pair of the lookup table

typedef struct {
    int64_t n_synsets;            // all four files
    DsSynset *synsets;            // (n_synsets): nouns, then verbs, adjectives, adverbs, each in
                                  // file (= offset) order
    int64_t n_file[DS_WN_NFILES]; // synsets per data file (adj counts satellites)
    int64_t n_words;              // words over all synsets (a word in 3 synsets counts 3)
    const char **words;           // (n_words) every synset's words, in synset order
    int64_t n_hypernyms;          // hypernym pointers over all synsets
    int64_t *hypernyms;           // (n_hypernyms) synset indices ('@' and '@i' pointers)
    DsWnKey *keys_;               // internal: words sorted for lookup
    char *files_[DS_WN_NFILES];   // internal: the file texts the strings point into
} DsWordNet;

// Loads WordNet from <data root>/wordnet. ERR_DEPENDENCY naming wordnet-base when it is not
// installed; otherwise the errors of ds_wordnet_load_dir.
int ds_wordnet_load(DsWordNet *out);

// Loads data.noun, data.verb, data.adj and data.adv from `dir`. ERR_IO when one cannot be
// read, ERR_FORMAT for a malformed line (file:line, field, hint).
int ds_wordnet_load_dir(const char *dir, DsWordNet *out);

// Frees everything wn owns and zeroes it. NULL and zeroed structs are no-ops.
void ds_wordnet_free(DsWordNet *wn);

// The synsets that contain `word`, compared ignoring ASCII case with '_' equal to ' '. Writes
// up to `max` synset indices to out (in increasing order) and returns how many there are in
// all (0 when the word is unknown), which may exceed max. out may be NULL when max is 0.
int64_t ds_wordnet_lookup(const DsWordNet *wn, const char *word, int64_t *out, int64_t max);

// Word i (0..n_words-1) of synset s. The string is borrowed from wn.
const char *ds_wordnet_word(const DsWordNet *wn, int64_t s, int64_t i);

// True when a and b share a synset (are synonyms in some sense of each).
bool ds_wordnet_synonyms(const DsWordNet *wn, const char *a, const char *b);

#endif
