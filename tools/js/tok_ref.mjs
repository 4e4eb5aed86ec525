// tok_ref.mjs - reference token ids from the JavaScript HF tokenizers
// (@lenml/tokenizers, a fork of transformers.js) and from gpt-3-encoder, for
// tests/test_tok_parity.c.
//
// Writes $FIXTURES/tok/<name>.jsonl: a first line
//   {"tokenizer": PATH, "add_special_tokens": true, "lossless": bool, "normalize": null|"NFC"}
// (PATH is what the C side passes to tn_tok_load; lossless: decode(encode(x))
// gives x back, after the Unicode normalization named) and then one line per text
//   {"text": ..., "ids": [...]}
// The corpus: every text field of the shared datasets (GSM8K capped at 2000
// rows to keep the tests fast) plus tests/data/tok_stress.jsonl.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { TokenizerLoader } from "@lenml/tokenizers";
import gpt3 from "gpt-3-encoder";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const shared = path.resolve(root, process.env.TUNA_SHARED_DATA || "../shared/data");
const fixtures = path.resolve(root, process.env.FIXTURES || "build/fixtures");
const outDir = path.join(fixtures, "tok");
const GSM8K_ROWS = 2000;

export function readCorpus() {
  const texts = [];
  const ds = path.join(shared, "datasets");
  const jsonl = (f) =>
    fs.readFileSync(f, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  jsonl(path.join(ds, "gsm8k_train.jsonl")).slice(0, GSM8K_ROWS).forEach((r) => texts.push(r.question, r.answer));
  JSON.parse(fs.readFileSync(path.join(ds, "alpaca_en_demo.json"), "utf8")).forEach((r) =>
    texts.push(r.instruction, r.input, r.output));
  jsonl(path.join(ds, "c4_demo.jsonl")).forEach((r) => texts.push(r.text));
  jsonl(path.join(root, "tests/data/tok_stress.jsonl")).forEach((s) => texts.push(s));
  return texts.filter((t) => typeof t === "string");
}

function readJson(f) {
  return JSON.parse(fs.readFileSync(f, "utf8"));
}

// GPT-2 from encoder.json + vocab.bpe, as GPT2TokenizerFast builds it.
export function gpt2Json(dir) {
  const vocab = readJson(path.join(dir, "encoder.json"));
  const merges = fs.readFileSync(path.join(dir, "vocab.bpe"), "utf8").split("\n")
    .filter((l, i) => l && !(i === 0 && l.startsWith("#version")));
  return {
    added_tokens: [{ id: vocab["<|endoftext|>"], content: "<|endoftext|>", single_word: false, lstrip: false,
      rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "",
      fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

export function loadTokenizers({ withAdded = true } = {}) {
  const lenml = path.join(here, "node_modules/@lenml");
  const list = [];
  const gdir = path.join(shared, "tokenizers/gpt2");
  if (fs.existsSync(gdir)) {
    const json = gpt2Json(gdir);
    list.push({ name: "gpt2", path: gdir, lossless: true, tok: TokenizerLoader.fromPreTrained({
      tokenizerJSON: json, tokenizerConfig: { tokenizer_class: "GPT2Tokenizer", bos_token: "<|endoftext|>",
        eos_token: "<|endoftext|>", unk_token: "<|endoftext|>" } }) });
    // The same GPT-2 with extra added tokens exercising lstrip / rstrip.
    if (withAdded) {
    const added = JSON.parse(JSON.stringify(json));
    added.added_tokens.push(
      { id: 50257, content: "<mask>", single_word: false, lstrip: true, rstrip: false, normalized: false, special: true },
      { id: 50258, content: "[R]", single_word: false, lstrip: false, rstrip: true, normalized: false, special: true },
      { id: 50259, content: "<both>", single_word: false, lstrip: true, rstrip: true, normalized: false, special: false },
      { id: 50260, content: " plain", single_word: false, lstrip: false, rstrip: false, normalized: false, special: false });
    const adir = path.join(outDir, "gpt2_added");
    fs.mkdirSync(adir, { recursive: true });
    fs.writeFileSync(path.join(adir, "tokenizer.json"), JSON.stringify(added));
    list.push({ name: "gpt2_added", path: adir, lossless: false, stressOnly: true, extra: [
      "a <mask> b", "a   <mask>   b", "a\t\n<mask>", "x [R]   y", "x[R]\n\ny", "p <both>  q", "<both>", " <mask>",
      "[R] ", "word plain text plain", "<mask><mask> [R][R] <both><both>", "<mask>[R]<both> plain"],
      tok: TokenizerLoader.fromPreTrained({ tokenizerJSON: added, tokenizerConfig: { tokenizer_class: "GPT2Tokenizer" } }) });
    }
    list.push({ name: "gpt2_gpt3enc", path: gdir, lossless: true, noSpecialText: "<|endoftext|>",
      tok: { encode: (t) => gpt3.encode(t) } });
  }
  const hf = (name, dir, lossless, normalize) => {
    const j = path.join(dir, "tokenizer.json");
    if (!fs.existsSync(j)) return;
    const c = path.join(dir, "tokenizer_config.json");
    list.push({ name, path: j, lossless, normalize, tok: TokenizerLoader.fromPreTrained({
      tokenizerJSON: readJson(j), tokenizerConfig: fs.existsSync(c) ? readJson(c) : {} }) });
  };
  hf("mistral", path.join(shared, "tokenizers/mistral"), false);
  hf("llama3", path.join(lenml, "tokenizer-llama3/models"), true);
  hf("qwen3", path.join(lenml, "tokenizer-qwen3/models"), true, "NFC"); // lossless up to its NFC normalizer
  return list;
}

function main() {
  if (!fs.existsSync(path.join(shared, "datasets"))) {
    console.log(`skipped: ${shared}/datasets missing; no tokenizer reference fixtures`);
    return;
  }
  fs.mkdirSync(outDir, { recursive: true });
  const corpus = readCorpus();
  const stress = fs.readFileSync(path.join(root, "tests/data/tok_stress.jsonl"), "utf8").split("\n")
    .filter((l) => l.trim()).map((l) => JSON.parse(l));
  for (const t of loadTokenizers()) {
    const t0 = Date.now();
    const lines = [JSON.stringify({ tokenizer: t.path, add_special_tokens: true, lossless: t.lossless,
      normalize: t.normalize || null })];
    for (const text of (t.extra || []).concat(t.stressOnly ? stress : corpus)) {
      if (t.noSpecialText && text.includes(t.noSpecialText)) continue; // gpt-3-encoder has no special tokens
      lines.push(JSON.stringify({ text, ids: Array.from(t.tok.encode(text)) }));
    }
    fs.writeFileSync(path.join(outDir, `${t.name}.jsonl`), lines.join("\n") + "\n");
    console.log(`tok: ${t.name}: ${lines.length - 1} texts in ${Date.now() - t0} ms`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
