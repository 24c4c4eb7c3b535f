/*
 * dictd.h: dictionaries in dictd's format (FOLDOC, the Jargon File, The Devil's Dictionary).
 *
 * The Debian packages dict-foldoc, dict-jargon and dict-devil each ship two files under
 * /usr/share/dictd/ (or $ENGINE_DATA_ROOT/dictd/):
 *
 *   NAME.index    one line per headword: "headword TAB offset TAB length\n", where offset and
 *                 length locate the entry in the uncompressed .dict data and are written in
 *                 dictd's base64: digits A-Z a-z 0-9 + / (values 0..63), most significant
 *                 digit first, so "B" = 1, "BA" = 64, "K2+v" = 10*64^3 + 54*64^2 + 62*64 + 47.
 *   NAME.dict.dz  the entries' text, compressed with dictzip, a gzip file with a seek table in
 *                 its header. zlib reads it as plain gzip; we inflate all of it (FOLDOC: 2 MB
 *                 -> 5.5 MB, a few tens of milliseconds) and slice.
 *
 * Headwords whose name begins with "00-database-" (older dictfmt: "00database") are dictd's
 * own metadata, not entries: "00-database-short" is the dictionary's title and
 * "00-database-url" its source. They are kept out of `entries` and exposed as `name`/`url`.
 *
 * Some dictionaries list one text under several headwords (FOLDOC: "!", "bang", "excl" ...);
 * such entries share one stored copy of the text and all but the first have `alias` set, so a
 * corpus can skip them and count each text once.
 *
 * Every index line is checked: three tab-separated fields, valid base64 of at most 10 digits,
 * and offset + length inside the dict data. A bad line is ERR_FORMAT (or ERR_RANGE for an
 * offset past the data) with "file:line", the field and a hint.
 *
 * Ownership: a DsDict filled by a load owns all its strings; ds_dict_free releases them (NULL
 * and zeroed structs are no-ops). On failure *out is left zeroed. Entry pointers and strings
 * are borrowed from the DsDict and valid until ds_dict_free.
 *
 * Usage:
 *     DsDict d;
 *     if (ds_dict_load("foldoc", &d) != ERR_OK) die(err_msg());    // names the package
 *     printf("%s: %lld entries\n", d.name, (long long)d.n);
 *     const DsEntry *e = ds_dict_find(&d, "Lisp");                   // case-insensitive
 *     if (e) {
 *         char *body = ds_dict_body(e);     // without the headword lines and {braces}
 *         puts(body);
 *         free(body);
 *     }
 *     ds_dict_free(&d);
 */
#ifndef DATASETS_DICTD_H
#define DATASETS_DICTD_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *headword;   // as written in the .index (FOLDOC's keys are lower case: "lisp")
    const char *definition; // the entry's text exactly as stored: its first line(s) usually
                            // repeat the headword in display case ("Lisp"), then the body
    int64_t offset, length; // where the text sits in the uncompressed .dict data (bytes)
    bool alias;             // an earlier entry has the same offset and length (same text)
} DsEntry;

typedef struct {
    int64_t n;        // number of entries (metadata headwords excluded)
    DsEntry *entries; // (n) in index order, owned
    const char *name; // the title from 00-database-short, "" if none
    const char *url;  // 00-database-url, "" if none
    char *storage_;   // internal: the strings above point into it
} DsDict;

// Loads the dictionary `name` ("foldoc", "jargon", "devil", or any other dictd dictionary
// installed as <data root>/dictd/NAME.index + NAME.dict.dz, whose Debian package is taken to be
// dict-NAME). ERR_DEPENDENCY naming the package when it is not installed, ERR_INVALID for a
// name that is empty or holds anything but [a-z0-9_-], otherwise the errors of
// ds_dict_load_files.
int ds_dict_load(const char *name, DsDict *out);

// Loads a dictd pair: `index_path` (.index) and `dict_path` (.dict.dz or an uncompressed .dict).
// ERR_IO when a file cannot be read, ERR_FORMAT for a malformed index line or corrupt gzip
// data, ERR_RANGE for an entry outside the dict data.
int ds_dict_load_files(const char *index_path, const char *dict_path, DsDict *out);

// Frees everything d owns and zeroes it. NULL and zeroed structs are no-ops.
void ds_dict_free(DsDict *d);

// The first entry whose headword equals `headword` ignoring ASCII case, or NULL. A linear scan
// (FOLDOC: 15k entries, tens of microseconds); the returned pointer is borrowed from d.
const DsEntry *ds_dict_find(const DsDict *d, const char *headword);

// The entry's body as plain text, in a new string the caller must free(): the leading block of
// headword lines is dropped when one of its lines is the headword (FOLDOC, Jargon; a Devil's
// Dictionary entry starts with its text and is kept whole), the braces that mark
// cross-references ({Lisp} -> Lisp) are removed, each line's indentation is removed and
// leading and trailing blank space is trimmed.
char *ds_dict_body(const DsEntry *e);

#endif
