#!/usr/bin/env node
// gen_tokenizer_fixtures.js: GPT-2 token ids from a real GPT-2 tokenizer, for
// tests/transformer/test_tokenizer.c.
//
//   make deps                                  # installs gpt-3-encoder@1.1.4 into build/npm
//   node tests/gen_tokenizer_fixtures.js       # rewrites tests/fixtures/gpt2_tokens.json
//
// It runs gpt-3-encoder (the JavaScript port of GPT-2's encoder.py, with GPT-2's own
// encoder.json and vocab.bpe) over varied texts: code, Unicode (CJK, emoji, accents, combining
// marks, other scripts), runs of spaces, tabs and newlines, numbers, contractions, mixed case,
// the empty string, and a few kB of FOLDOC (the dict-foldoc package, as the engine reads it).
// Output: {"tokenizer": ..., "node": ..., "unicode": ..., "cases": [{"name", "text", "ids"}]}.
// The texts are valid UTF-16, so their UTF-8 bytes are exactly what the C side encodes.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const root = path.resolve(__dirname, '..');
const pkgDir = process.argv[2] || path.join(root, 'build/npm/node_modules/gpt-3-encoder');
const out = process.argv[3] || path.join(root, 'tests/fixtures/gpt2_tokens.json');
const enc = require(pkgDir);
const version = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'))).version;

// A slice of FOLDOC's text, cut at line boundaries (the .dz file is gzip-compatible).
function foldocSlice(start, bytes) {
  const dict = zlib.gunzipSync(fs.readFileSync('/usr/share/dictd/foldoc.dict.dz'));
  let a = dict.indexOf(10, start) + 1;
  let b = dict.indexOf(10, a + bytes) + 1;
  return dict.subarray(a, b).toString('utf8');
}

const cases = [
  ['empty', ''],
  ['hello', 'Hello world'],
  ['sentence', 'The quick brown fox jumps over the lazy dog.'],
  ['contractions', "I'm sure it's fine, you're right, we've seen they'll do what he'd say. " +
   "DON'T SHOUT'S 'quoted' rock'n'roll '' 'll"],
  ['mixed_case', 'camelCase snake_case SCREAMING_CASE PascalCase iPhone McDonald'],
  ['numbers', '0 1 12 123 1234 12345 3.14159 -42 1e10 0x1F 2024-11-25 1,000,000 $9.99 50%'],
  ['spaces', 'a  b   c    d     e\n\n\nf \n g\t\th \t i  \n  '],
  ['leading_trailing', '   leading and trailing   '],
  ['only_spaces', '        '],
  ['newlines', '\n\nline one\nline two\r\nline three\n\n\n\nend\n'],
  ['tabs', '\tindented\n\t\tdouble\n    four spaces\n'],
  ['code_c', 'int main(int argc, char **argv)\n{\n    for (int i = 0; i < argc; i++) {\n' +
   '        printf("%s\\n", argv[i]);\n    }\n    return 0; // done\n}\n'],
  ['code_py', 'def f(x):\n    """Doc."""\n    return [y ** 2 for y in range(x) if y % 3 == 0]\n'],
  ['code_js', 'const x = {a: 1, "b": [2, 3]};\nx?.a ?? null; /* c */ `${x}` => !== ===\n'],
  ['punctuation', '!!! ??? ... --- *** ((( ))) [[[ ]]] {{{ }}} <<>> @#$%^&*_+=|\\~`'],
  ['accents', 'café naïve résumé Ångström Straße façade São Paulo Zürich Dvořák'],
  ['combining', 'e\u0301 a\u0308 n\u0303o Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d a\u20dd'],
  ['cjk', '日本語のテキスト、中文文本，한국어 텍스트。漢字とかな混じり文'],
  ['emoji', 'I ❤️ 🍕! 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ✨🚀✨ smile😀end'],
  ['scripts', 'Привет мир Γειά σου κόσμε שלום עולם مرحبا بالعالم नमस्ते दुनिया สวัสดี'],
  ['unicode_numbers', '½ ¾ Ⅻ ٣٤٥ ४२ ① ²³ 一二三 𝟙𝟚𝟛'],
  ['unicode_spaces', 'a\u00a0b\u2003c\u3000d\u202fe\u2028f\u2029g\ufeffh\u200bi \u00a0 j'],
  ['symbols', '© ® ™ § ¶ † ‡ • … ‰ ′ ″ € £ ¥ ∑ ∫ √ ∞ ≈ ≠ ≤ ≥ → ⇒ ∀ ∃'],
  ['math_letters', '𝒜𝓁𝓅𝒽𝒶 𝕯𝖔𝖚𝖇𝖑𝖊 ℕ ℤ ℚ ℝ ℂ'],
  ['long_word', 'supercalifragilisticexpialidocious antidisestablishmentarianism ' +
   'pneumonoultramicroscopicsilicovolcanoconiosis'],
  ['url_email', 'https://example.com/path?q=1&r=two#frag mailto:someone@example.org'],
  ['repeated', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa ' + 'ab'.repeat(30) + ' ' + '='.repeat(40)],
  ['special_text', '<|endoftext|> is just text here'],
  ['foldoc', foldocSlice(200000, 3000)],
  ['foldoc2', foldocSlice(2500000, 2000)],
];

const doc = {
  tokenizer: 'gpt-3-encoder@' + version,
  node: process.versions.node,
  unicode: process.versions.unicode,
  cases: cases.map(([name, text]) => {
    const ids = enc.encode(text);
    if (enc.decode(ids) !== text) throw new Error('reference does not round-trip: ' + name);
    return {name, text, ids};
  }),
};
// One case per line: readable diffs when the fixture is regenerated.
const body = doc.cases.map(c => '  ' + JSON.stringify(c)).join(',\n');
fs.writeFileSync(out, '{"tokenizer": ' + JSON.stringify(doc.tokenizer) + ', "node": ' +
  JSON.stringify(doc.node) + ', "unicode": ' + JSON.stringify(doc.unicode) +
  ',\n "cases": [\n' + body + '\n]}\n');
console.log('gen_tokenizer_fixtures: ' + doc.cases.length + ' cases -> ' + out);
