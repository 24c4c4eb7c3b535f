/*
 * datasets.h: real data from Debian packages, loaded and checked (the datasets/ module).
 *
 * The engine trains and evaluates on data that Debian ships as ordinary packages, so a course
 * machine gets it with apt-get and nothing is fetched at run time:
 *
 *   idx.h       Fashion-MNIST images (dataset-fashion-mnist), IDX files read through zlib
 *   dictd.h     FOLDOC, the Jargon File, The Devil's Dictionary (dict-foldoc, dict-jargon,
 *               dict-devil), dictd .index + .dict.dz
 *   wordnet.h   WordNet 3.0 synsets, glosses and hypernyms (wordnet-base)
 *   fortune.h   the fortune cookie files (fortunes)
 *   this file   ds_corpus_text: several of those joined into one text for language models
 *
 * Every loader has the same contract:
 *   - it fills a caller-owned struct and returns ERR_OK, or a negative Err with err_msg()
 *     naming the file, the field or line (file:line) and a "hint: ..."; on failure the struct
 *     is zeroed, and its free function (which accepts NULL and zeroed structs) is always safe;
 *   - a missing package is ERR_DEPENDENCY, and the message names the Debian package and the
 *     command that installs it (`make deps` or `sudo apt-get install PACKAGE`);
 *   - the package paths are under /usr/share, or under $ENGINE_DATA_ROOT when it is set
 *     (the same layout: $ENGINE_DATA_ROOT/dictd/foldoc.index ...);
 *   - a *_load_files / *_load_dir variant takes explicit paths, for other copies of the data
 *     and for the tests' corrupt files.
 *
 * Usage:
 *     #include "datasets/datasets.h"
 *
 *     DsImages train;
 *     if (ds_fashion_load("train", &train) != ERR_OK) die(err_msg());
 *     char *text;
 *     size_t n;
 *     if (ds_corpus_text("foldoc,jargon", &text, &n) != ERR_OK) die(err_msg());
 *     printf("%lld images, %zu bytes of text\n", (long long)train.n, n);
 *     free(text);
 *     ds_images_free(&train);
 */
#ifndef DATASETS_DATASETS_H
#define DATASETS_DATASETS_H

#include "core/err.h"
#include "datasets/dictd.h"
#include "datasets/fortune.h"
#include "datasets/idx.h"
#include "datasets/wordnet.h"

#include <stddef.h>

// Joins the texts of `sources`, a comma-separated list of "fortunes" and dictd dictionary
// names ("foldoc", "jargon", "devil"), in that order, into one new NUL-terminated string:
// each dictionary entry as ds_dict_body gives it (a text listed under several headwords once),
// each fortune as it is, texts separated by a blank line. *out is owned by the caller (free());
// *len is its length without the NUL. ERR_INVALID for an empty list or name, and the errors
// of the loaders (ERR_DEPENDENCY when a package is missing). On failure *out is NULL.
int ds_corpus_text(const char *sources, char **out, size_t *len);

#endif
