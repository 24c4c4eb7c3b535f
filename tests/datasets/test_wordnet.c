/*
 * test_wordnet.c: the WordNet 3.0 loader (datasets/wordnet.c).
 *
 * The real-data test loads the package wordnet-base and checks the synset counts WordNet 3.0
 * publishes (82115 noun, 13767 verb, 18156 adjective incl. satellites, 3621 adverb synsets)
 * and a few well-known relations (car ~ automobile, car is-a motor vehicle). The fixture tests
 * write small data.* files, with each synset_offset computed as the line's byte offset as
 * WordNet requires, then break one field at a time and check that the error names the file,
 * the line and the field.
 */
#include "core/io.h"
#include "datasets/datasets.h"
#include "tests/test_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------
// Building fixture files
// ---------------------------------------------------------------------------

// One data file being written: a license header of 3 lines, then synset lines.
typedef struct {
    char text[4096];
    size_t n;
} WnFile;

static void wn_file_init(WnFile *f)
{
    f->n = (size_t)snprintf(f->text, sizeof f->text,
                            "  1 This is a test file standing in for WordNet.  \n"
                            "  2   \n"
                            "  3 Its license header lines start with two spaces.  \n");
}

// Appends "<8-digit byte offset> <rest>  \n" and returns the offset. `rest` is a printf format.
static int64_t wn_line(WnFile *f, const char *fmt, ...)
{
    int64_t off = (int64_t)f->n;
    f->n += (size_t)snprintf(f->text + f->n, sizeof f->text - f->n, "%08lld ", (long long)off);
    va_list ap;
    va_start(ap, fmt);
    f->n += (size_t)vsnprintf(f->text + f->n, sizeof f->text - f->n, fmt, ap);
    va_end(ap);
    f->n += (size_t)snprintf(f->text + f->n, sizeof f->text - f->n, "  \n");
    ck_assert(f->n < sizeof f->text);
    return off;
}

// Lines 4.. of each file. `bad` (or NULL) replaces the last noun line's text after its offset.
typedef struct {
    WnFile noun, verb, adj, adv;
} WnFixture;

static void fixture_build(WnFixture *x, const char *bad_noun)
{
    wn_file_init(&x->noun);
    wn_file_init(&x->verb);
    wn_file_init(&x->adj);
    wn_file_init(&x->adv);
    int64_t mv = wn_line(&x->noun, "06 n 01 motor_vehicle 0 000 | a self-propelled wheeled "
                                   "vehicle");
    wn_line(&x->noun,
            "06 n 05 car 0 auto 0 automobile 0 machine 0 motorcar 0 002 @ %08lld n "
            "0000 ~ %08lld n 0000 | a motor vehicle with four wheels; \"he needs a "
            "car\"",
            (long long)mv, (long long)mv);
    if (bad_noun) wn_line(&x->noun, "%s", bad_noun);
    wn_line(&x->verb, "29 v 02 breathe 0 respire 0 000 02 + 02 00 + 08 01 | draw air into, and "
                      "expel out of, the lungs");
    int64_t ab = wn_line(&x->adj, "00 a 01 abundant 0 000 | present in great quantity");
    wn_line(&x->adj,
            "00 s 02 abounding 0 galore(ip) 0 001 & %08lld a 0000 | existing in "
            "abundance",
            (long long)ab);
    wn_line(&x->adv, "02 r 01 barely 0 000 | only just");
}

// Writes the four files into a fresh folder named `name` and returns its path.
static const char *fixture_write(const WnFixture *x, const char *name)
{
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", test_tmpdir(), name);
    ck_assert_int_eq(io_mkdir_p(dir), ERR_OK);
    const WnFile *files[4] = {&x->noun, &x->verb, &x->adj, &x->adv};
    const char *names[4] = {"noun", "verb", "adj", "adv"};
    for (int i = 0; i < 4; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/data.%s", dir, names[i]);
        ck_assert_int_eq(io_write_atomic(p, files[i]->text, files[i]->n), ERR_OK);
    }
    return dir;
}

// Loads the fixture with `bad` as noun line 6 and expects ERR_FORMAT naming data.noun:6 and
// each of the needles.
static void expect_bad_noun(const char *name, const char *bad, const char *const *needles)
{
    WnFixture x;
    fixture_build(&x, bad);
    DsWordNet wn;
    int rc = ds_wordnet_load_dir(fixture_write(&x, name), &wn);
    test_expect_err(rc, ERR_FORMAT, (const char *[]){"data.noun:6:", "hint:", NULL});
    test_expect_err(rc, ERR_FORMAT, needles);
    ck_assert_ptr_null(wn.synsets);
}

// ---------------------------------------------------------------------------
// The real WordNet
// ---------------------------------------------------------------------------

START_TEST(test_wordnet_real)
{
    DsWordNet wn;
    int rc = ds_wordnet_load(&wn);
    ck_assert_msg(rc == ERR_OK, "%s", err_msg());
    ck_assert_int_eq(wn.n_file[DS_WN_NOUN], 82115);
    ck_assert_int_eq(wn.n_file[DS_WN_VERB], 13767);
    ck_assert_int_eq(wn.n_file[DS_WN_ADJ], 18156);
    ck_assert_int_eq(wn.n_file[DS_WN_ADV], 3621);
    ck_assert_int_eq(wn.n_synsets, 82115 + 13767 + 18156 + 3621);

    ck_assert(ds_wordnet_synonyms(&wn, "car", "automobile"));
    ck_assert(ds_wordnet_synonyms(&wn, "Automobile", "motorcar"));
    ck_assert(!ds_wordnet_synonyms(&wn, "car", "banana"));
    ck_assert(!ds_wordnet_synonyms(&wn, "car", "no-such-word-xyz"));

    // "car" has 5 noun senses; the one shared with "automobile" is a motor vehicle.
    int64_t ids[16];
    int64_t k = ds_wordnet_lookup(&wn, "car", ids, 16);
    ck_assert_int_eq(k, 5);
    int64_t auto_id = -1;
    for (int64_t i = 0; i < k; i++) {
        const DsSynset *s = &wn.synsets[ids[i]];
        ck_assert_int_eq(s->pos, 'n');
        for (int64_t w = 0; w < s->n_words; w++)
            if (strcmp(ds_wordnet_word(&wn, ids[i], w), "automobile") == 0) auto_id = ids[i];
    }
    ck_assert_int_ge(auto_id, 0);
    const DsSynset *car = &wn.synsets[auto_id];
    ck_assert_ptr_nonnull(strstr(car->gloss, "motor vehicle with four wheels"));
    ck_assert_int_eq(car->n_hypers, 1);
    int64_t h = wn.hypernyms[car->hyper0];
    ck_assert_str_eq(ds_wordnet_word(&wn, h, 0), "motor vehicle");
    ck_assert_int_eq(ds_wordnet_lookup(&wn, "motor_vehicle", NULL, 0), 1);
    ck_assert_int_eq(ds_wordnet_lookup(&wn, "no-such-word-xyz", ids, 16), 0);

    // Each synset's words are found by the lookup (spot check every 997th).
    for (int64_t s = 0; s < wn.n_synsets; s += 997) {
        const char *w = ds_wordnet_word(&wn, s, 0);
        int64_t all[64];
        int64_t m = ds_wordnet_lookup(&wn, w, all, 64);
        bool found = false;
        for (int64_t i = 0; i < m && i < 64; i++) found = found || all[i] == s;
        ck_assert_msg(found, "synset %lld's word '%s' not found by lookup", (long long)s, w);
    }
    ds_wordnet_free(&wn);
    ck_assert_ptr_null(wn.synsets);
    ds_wordnet_free(&wn);
    ds_wordnet_free(NULL);
}
END_TEST

START_TEST(test_wordnet_missing_package)
{
    char root[512];
    snprintf(root, sizeof root, "%s/empty_root", test_tmpdir());
    ck_assert_int_eq(io_mkdir_p(root), ERR_OK);
    setenv("ENGINE_DATA_ROOT", root, 1);
    DsWordNet wn;
    int rc = ds_wordnet_load(&wn);
    unsetenv("ENGINE_DATA_ROOT");
    test_expect_err(rc, ERR_DEPENDENCY, (const char *[]){"wordnet-base", "apt-get install", NULL});
    ck_assert_ptr_null(wn.synsets);
}
END_TEST

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

START_TEST(test_wordnet_fixture)
{
    WnFixture x;
    fixture_build(&x, NULL);
    DsWordNet wn;
    ck_assert_msg(ds_wordnet_load_dir(fixture_write(&x, "wn_ok"), &wn) == ERR_OK, "%s", err_msg());
    ck_assert_int_eq(wn.n_file[DS_WN_NOUN], 2);
    ck_assert_int_eq(wn.n_file[DS_WN_VERB], 1);
    ck_assert_int_eq(wn.n_file[DS_WN_ADJ], 2);
    ck_assert_int_eq(wn.n_file[DS_WN_ADV], 1);
    ck_assert_int_eq(wn.n_words, 1 + 5 + 2 + 1 + 2 + 1);
    ck_assert_str_eq(ds_wordnet_word(&wn, 0, 0), "motor vehicle"); // '_' -> ' '
    ck_assert_str_eq(wn.synsets[1].gloss, "a motor vehicle with four wheels; \"he needs a car\"");
    ck_assert_int_eq(wn.synsets[1].n_hypers, 1); // '@' counts, '~' (hyponym) does not
    ck_assert_int_eq(wn.hypernyms[wn.synsets[1].hyper0], 0);
    ck_assert_int_eq(wn.synsets[4].pos, 's');
    ck_assert_str_eq(ds_wordnet_word(&wn, 4, 1), "galore"); // "(ip)" removed
    ck_assert_int_eq(wn.synsets[5].offset, strstr(x.adv.text, "00000") - x.adv.text);
    ck_assert(ds_wordnet_synonyms(&wn, "CAR", "motorcar"));
    ck_assert(ds_wordnet_synonyms(&wn, "breathe", "respire"));
    ck_assert(!ds_wordnet_synonyms(&wn, "car", "motor vehicle"));
    int64_t id;
    ck_assert_int_eq(ds_wordnet_lookup(&wn, "Motor_Vehicle", &id, 1), 1);
    ck_assert_int_eq(id, 0);
    ds_wordnet_free(&wn);
}
END_TEST

START_TEST(test_wordnet_bad_counts)
{
    // w_cnt says 3 words but 2 follow: the parser reads "001" as a word and "@" as its lex_id.
    expect_bad_noun("wn_wcnt", "06 n 03 bus 0 coach 0 001 @ 00000152 n 0000 | a vehicle",
                    (const char *[]){"lex_id", "w_cnt", NULL});
    // w_cnt not two hex digits.
    expect_bad_noun("wn_wcnt2", "06 n 0x bus 0 000 | a vehicle",
                    (const char *[]){"field w_cnt", "'0x'", NULL});
    // w_cnt of zero.
    expect_bad_noun("wn_wcnt0", "06 n 00 000 | a vehicle", (const char *[]){"w_cnt", NULL});
    // p_cnt says 0 pointers but one follows: '|' is not where it should be.
    expect_bad_noun("wn_pcnt", "06 n 01 bus 0 000 @ 00000152 n 0000 | a vehicle",
                    (const char *[]){"'|'", "p_cnt=0", NULL});
    // p_cnt says 2 pointers but one follows: the gloss bar is read as a pointer symbol.
    expect_bad_noun("wn_pcnt2", "06 n 01 bus 0 002 @ 00000152 n 0000 | a vehicle",
                    (const char *[]){"pointer_symbol", NULL});
    // p_cnt of two digits.
    expect_bad_noun("wn_pcnt3", "06 n 01 bus 0 00 | a vehicle",
                    (const char *[]){"field p_cnt", NULL});
}
END_TEST

START_TEST(test_wordnet_bad_fields)
{
    expect_bad_noun("wn_type", "06 v 01 bus 0 000 | a vehicle",
                    (const char *[]){"ss_type", "'v'", NULL});
    expect_bad_noun("wn_lex", "6 n 01 bus 0 000 | a vehicle",
                    (const char *[]){"lex_filenum", NULL});
    expect_bad_noun("wn_ptrpos", "06 n 01 bus 0 001 @ 00000152 x 0000 | a vehicle",
                    (const char *[]){"pointer pos", NULL});
    expect_bad_noun("wn_gloss", "06 n 01 bus 0 000", (const char *[]){"'|'", NULL});
    expect_bad_noun("wn_short", "06 n 01 bus", (const char *[]){"lex_id", NULL});
    // A hypernym pointing at no synset.
    expect_bad_noun("wn_dangle", "06 n 01 bus 0 001 @ 00000999 n 0000 | a vehicle",
                    (const char *[]){"hypernym", "00000999", NULL});
}
END_TEST

START_TEST(test_wordnet_bad_offset_and_files)
{
    // The synset_offset must be the line's byte offset: drop one byte from a header line so
    // every later offset is off by one.
    WnFixture x;
    fixture_build(&x, NULL);
    char *two = strstr(x.noun.text, "  2   \n");
    memmove(two + 3, two + 4, x.noun.n - (size_t)(two + 4 - x.noun.text) + 1);
    x.noun.n--;
    DsWordNet wn;
    test_expect_err(ds_wordnet_load_dir(fixture_write(&x, "wn_off"), &wn), ERR_FORMAT,
               (const char *[]){"data.noun:4:", "synset_offset", "byte offset", NULL});

    // A verb line without its frames count.
    fixture_build(&x, NULL);
    x.verb.n = 0;
    wn_file_init(&x.verb);
    wn_line(&x.verb, "29 v 01 breathe 0 000 | draw air");
    test_expect_err(ds_wordnet_load_dir(fixture_write(&x, "wn_frames"), &wn), ERR_FORMAT,
               (const char *[]){"data.verb:4:", "f_cnt", NULL});

    // A missing file.
    fixture_build(&x, NULL);
    const char *dir = fixture_write(&x, "wn_missing");
    char p[600];
    snprintf(p, sizeof p, "%s/data.adv", dir);
    ck_assert_int_eq(remove(p), 0);
    test_expect_err(ds_wordnet_load_dir(dir, &wn), ERR_IO, (const char *[]){"data.adv", NULL});
    ck_assert_ptr_null(wn.synsets);
}
END_TEST

static Suite *wordnet_suite(void)
{
    Suite *s = suite_create("wordnet");
    TCase *real = tcase_create("real");
    tcase_set_timeout(real, 60);
    tcase_add_test(real, test_wordnet_real);
    tcase_add_test(real, test_wordnet_missing_package);
    suite_add_tcase(s, real);
    TCase *files = tcase_create("files");
    tcase_add_test(files, test_wordnet_fixture);
    tcase_add_test(files, test_wordnet_bad_counts);
    tcase_add_test(files, test_wordnet_bad_fields);
    tcase_add_test(files, test_wordnet_bad_offset_and_files);
    suite_add_tcase(s, files);
    return s;
}

int main(void)
{
    return test_main(wordnet_suite());
}
