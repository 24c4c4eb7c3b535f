#!/usr/bin/env node
// bench_tokenizer.js: the JavaScript side of bench/bench_tokenizer.c. It encodes a text file
// with gpt-3-encoder (GPT-2's tokenizer ported to JavaScript) and prints one line
//   PEER {"peer":"gpt-3-encoder@1.1.4","bytes":...,"tokens":...,"checksum":...,
//         "cold_s":...,"warm_s":[...]}
// for the C benchmark, which runs it (node bench/peers/bench_tokenizer.js FILE [--reps N]).
//
// gpt-3-encoder's encode() appends each pre-token's ids with Array.concat, which costs
// O(tokens so far) per pre-token: quadratic in the length of one call. Real callers encode a
// document or a line at a time, so we cut the file into lines at places where GPT-2's
// pre-tokeniser cuts anyway: after a lone "\n" (the character before it and the one after it
// printable ASCII other than a space), which is always a pre-token of its own, whether or not
// the text ends there; after "\n\n" it would not be, as a white-space run at the very end of
// a text stays whole ("\n\n" is one token there, two inside). Each piece is encoded, and the
// ids are exactly those of the whole text; the checksum lets the C side verify that. The cutting
// happens before the clock starts.
//
// cold_s: the first pass (the word cache is empty); warm_s: later passes (cache filled).
'use strict';
const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
const file = args[0];
let reps = 3;
const r = args.indexOf('--reps');
if (r >= 0) reps = parseInt(args[r + 1], 10);
const pkg = process.env.GPT2_JS ||
  path.join(__dirname, '..', '..', 'build', 'npm', 'node_modules', 'gpt-3-encoder');
const enc = require(pkg);
const version = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'))).version;

const text = fs.readFileSync(file, 'utf8');
const pieces = [];
let start = 0;
const printable = c => c > 32 && c < 127;
for (let i = 2; i < text.length; i++) {
  if (text.charCodeAt(i - 1) === 10 && printable(text.charCodeAt(i)) &&
      printable(text.charCodeAt(i - 2))) {
    pieces.push(text.slice(start, i));
    start = i;
  }
}
pieces.push(text.slice(start));

function pass() {
  let tokens = 0, sum = 0;
  for (const p of pieces) {
    const ids = enc.encode(p);
    for (const id of ids) {
      // FNV-1a over the ids, 32-bit: the C side computes the same.
      sum = Math.imul(sum ^ id, 16777619) >>> 0;
      tokens++;
    }
  }
  return [tokens, sum];
}

function timed() {
  const t0 = process.hrtime.bigint();
  const res = pass();
  return [Number(process.hrtime.bigint() - t0) * 1e-9, res];
}

const [cold, [tokens, checksum]] = timed();
const warm = [];
for (let k = 0; k < reps; k++) warm.push(timed()[0]);
console.log('PEER ' + JSON.stringify({
  peer: 'gpt-3-encoder@' + version, node: process.versions.node, bytes: Buffer.byteLength(text),
  pieces: pieces.length, tokens, checksum: checksum >>> 0, cold_s: cold, warm_s: warm,
}));
