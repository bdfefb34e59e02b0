// Run by transformers-js-versions.test.ts inside a consumer project that installed the packed packages and one
// @huggingface/transformers version: adapterPipeline on stories260K (fp32 and q4) with the peft-lora fixture.
// Prints one JSON object; the test judges it.
import { readFileSync } from 'node:fs';
import { adapterPipeline } from '@tsd-peft/transformers';
import { parseSafetensors, tensorToFloat32 } from '@tsd-peft/core';
import { Tensor, TextStreamer, env, pipeline } from '@huggingface/transformers';

const version = JSON.parse(readFileSync(new URL('./node_modules/@huggingface/transformers/package.json', import.meta.url), 'utf8')).version;
env.allowRemoteModels = false;
const fx = process.env.TSD_FIXTURES_DIR;
if (!fx) throw new Error('TSD_FIXTURES_DIR is not set');
const dir = `${fx}/reference/onnx/stories260K`;
const adapter = `${fx}/reference/peft-lora`;
const inputs = JSON.parse(readFileSync(`${fx}/reference/inputs.json`, 'utf8'));
const st = parseSafetensors(new Uint8Array(readFileSync(`${adapter}/logits.safetensors`)));
const t = (v) => new Tensor('int64', BigInt64Array.from(v.map(BigInt)), [1, v.length]);
const logits = async (p, ids) => Float32Array.from((await p.model({ input_ids: t(ids), attention_mask: t(ids.map(() => 1)) })).logits.data);
const maxDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const sameBits = (a, b) => Buffer.from(a.buffer).equals(Buffer.from(b.buffer));
const out = { transformersJs: version };
for (const dtype of ['fp32', 'q4']) {
  const gen = await adapterPipeline('text-generation', dir, { dtype });
  const plain = await pipeline('text-generation', dir, { dtype });
  const ids = inputs.input2.ids;
  const base = await logits(plain, ids);
  const r = { baseBitIdentical: sameBits(await logits(gen, ids), base) };
  await gen.loadAdapter('lora', adapter);
  gen.setAdapter('lora');
  const lora = await logits(gen, ids);
  if (dtype === 'fp32') r.vsPeftMerged = maxDiff(lora, tensorToFloat32(st.tensors.get('merged.input2'), 'merged.input2'));
  else r.changedByAdapter = maxDiff(lora, base);
  const streamed = [];
  const streamer = new TextStreamer(gen.tokenizer, { skip_prompt: true, callback_function: (x) => streamed.push(x) });
  const batch = await gen(['Once upon a time', 'The cat'], { max_new_tokens: 6, do_sample: false });
  const single = await gen('Once upon a time', { max_new_tokens: 6, do_sample: false, streamer });
  r.batchRow0EqualsSingle = batch[0][0].generated_text === single[0].generated_text;
  r.streamed = streamed.join('');
  gen.setAdapter(null);
  r.baseBitIdenticalAfterNull = sameBits(await logits(gen, ids), base);
  out[dtype] = r;
  await gen.dispose();
  await plain.dispose();
}
console.log(JSON.stringify(out, null, 1));
