// tok_bench.mjs - encode throughput of the JavaScript HF tokenizers, for
// bench/tok_bench. Usage:
//   node tok_bench.mjs --corpus OUT.jsonl   write the corpus (one JSON string per line)
//   node tok_bench.mjs [--passes N]         print "name path MB/s" per tokenizer
// Each tokenizer encodes the whole corpus once to warm up (caches, JIT), then
// N timed passes; MB are UTF-8 bytes of input text.
import fs from "node:fs";
import { readCorpus, loadTokenizers } from "./tok_ref.mjs";

const args = process.argv.slice(2);
const corpus = readCorpus();
if (args[0] === "--corpus") {
  fs.writeFileSync(args[1], corpus.map((t) => JSON.stringify(t)).join("\n") + "\n");
  process.exit(0);
}
const passes = args[0] === "--passes" ? Number(args[1]) : 2;
const bytes = corpus.reduce((a, t) => a + Buffer.byteLength(t, "utf8"), 0);
for (const t of loadTokenizers({ withAdded: false })) {
  if (t.name === "gpt2_gpt3enc") continue;
  let sink = 0;
  for (const text of corpus) sink += t.tok.encode(text).length;
  const t0 = process.hrtime.bigint();
  for (let p = 0; p < passes; p++) for (const text of corpus) sink += t.tok.encode(text).length;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${t.name} ${t.path} ${((bytes * passes) / 1e6 / secs).toFixed(3)} ${sink}`);
}
