/* config_yaml.h - axolotl-style YAML configs -> tn_train_opts.
 *
 * `tuna train config.yml` reads the configs miners already have for axolotl
 * (and the ones G.O.D writes). The keys tuna understands are listed in
 * train.h next to the fields they fill; the values follow PyYAML + pydantic's
 * leniency where axolotl relies on it:
 *   - numbers may be plain or quoted: 2e-4, 0.0002, "2e-4" (PyYAML reads 2e-4
 *     as a string and pydantic converts it; we read all three as numbers);
 *     integer keys take 4 or 4.0 but not 4.5;
 *   - booleans: true/false/yes/no/on/off in any case, or 0/1;
 *   - an empty value or null (`max_steps:`) leaves the default;
 *   - a key given twice: the last one wins (as in PyYAML), with a warning.
 * Keys tuna does not know (bf16, flash_attention, wandb_*, ...) get one
 * warning each on stderr naming the file, line and key; they are not errors,
 * since axolotl configs carry many keys that do not apply here.
 *
 * datasets: only the first entry is used (a warning names the others). Its
 * `type` is one of
 *   alpaca         instruct rows instruction/input/output with axolotl's
 *                  Alpaca prompt ("Below is an instruction ... ### Response:\n")
 *   completion     plain text rows; column `field` (default "text")
 *   chat_template  message lists; column `field_messages` (default: messages
 *                  or conversations, whichever the row has); template from
 *                  the entry's or the top level's chat_template
 *   sharegpt       as chat_template with the "conversations" column
 *   a mapping      G.O.D's / axolotl's user-defined instruct format with keys
 *                  field_system, field_instruction, field_input, field_output,
 *                  format, no_input_format, system_format, system_prompt
 * ds_type (json, csv) is a format hint; with data_files, a `path` that is a
 * directory is joined with the first data file.
 *
 * chat_template: a built-in name (chatml, llama2, llama3, mistral, alpaca) or
 * tokenizer_default (= NULL: recognised from tokenizer_config.json).
 *
 * adapter: lora -> LoRA; absent or empty -> full fine-tuning (axolotl's
 * meaning); qlora is refused (tuna does no quantisation). When
 * learning_rate is not given it becomes 2e-4 for LoRA and 2e-5 for full
 * fine-tuning.
 *
 * Relative paths (base_model, datasets[0].path, output_dir) are relative to
 * the YAML file's directory. Errors name file:line, the key and what was
 * expected; malformed YAML names file:line:column.
 */
#ifndef TN_TRAIN_CONFIG_YAML_H
#define TN_TRAIN_CONFIG_YAML_H

#include "train/train.h"

/* Applies the config at `path` on top of what `o` holds (normally
 * tn_train_opts_defaults). Returns 0, or -1 with the error set; on error `o`
 * may be partly filled (free it with tn_train_opts_free either way). */
int tn_train_opts_from_yaml(tn_train_opts *o, const char *path);
/* The same, counting the warnings printed (unknown keys, ignored entries)
 * into *n_warnings when it is not NULL. */
int tn_train_opts_from_yaml_w(tn_train_opts *o, const char *path, int *n_warnings);

#endif
