// Runs the onnxruntime compatibility matrix's cases in onnxruntime-node (native)
// or onnxruntime-web (its WebAssembly build, as browsers run it, here in node).
//
//   node scripts/ort-matrix/run.mjs CASE_DIR OUT_JSON [onnxruntime-node|onnxruntime-web]
//
// Same case layout and result file as python/oracles/ort_matrix.py (which see):
// {"runtime": PACKAGE, "version", "stride": 1, "cases": {NAME:
// {"outputs": {name: nested lists}} | {"error": message}}}; numbers exact,
// NaN and infinities as the strings "nan", "inf", "-inf"; int64 as numbers.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const [dir, out, runtime = 'onnxruntime-node'] = process.argv.slice(2);
if (!['onnxruntime-node', 'onnxruntime-web'].includes(runtime)) {
  throw new Error(`unknown runtime ${runtime}`);
}
const ort = require(runtime);
// Read from the file: onnxruntime-web's exports do not include package.json.
const { version } = JSON.parse(
  readFileSync(new URL(`./node_modules/${runtime}/package.json`, import.meta.url), 'utf8'),
);
const web = runtime === 'onnxruntime-web';
// One thread, as every other runtime of the matrix runs; the web build's
// worker threads would also keep node alive.
if (web) ort.env.wasm.numThreads = 1;

function number(v) {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v !== 'number') return v;
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  return v;
}

// A tensor as nested lists, row-major.
function plain(tensor) {
  const data = Array.from(tensor.data, number);
  const dims = tensor.dims.map(Number);
  const nest = (offset, axis) => {
    if (axis === dims.length) return data[offset];
    const stride = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
    return Array.from({ length: dims[axis] }, (_, i) => nest(offset + i * stride, axis + 1));
  };
  return nest(0, 0);
}

async function runCase(dir, name) {
  const meta = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'));
  const raw = readFileSync(join(dir, `${name}.input.${meta.dtype}`));
  const buffer = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
  const [type, values] =
    meta.dtype === 'f64' ? ['float64', new Float64Array(buffer)] : ['float32', new Float32Array(buffer)];
  const session = await ort.InferenceSession.create(join(dir, `${name}.onnx`), {
    intraOpNumThreads: 1,
    executionProviders: [web ? 'wasm' : 'cpu'],
  });
  const feeds = { [session.inputNames[0]]: new ort.Tensor(type, values, [meta.rows, meta.cols]) };
  const results = await session.run(feeds);
  const outputs = {};
  for (const key of session.outputNames) outputs[key] = plain(results[key]);
  await session.release();
  return { outputs };
}

const cases = {};
const names = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -'.json'.length))
  .sort();
for (const name of names) {
  try {
    cases[name] = await runCase(dir, name);
  } catch (e) {
    cases[name] = { error: String(e && e.message ? e.message : e) };
  }
}
writeFileSync(out, JSON.stringify({ runtime, version, stride: 1, cases }));
const errors = Object.values(cases).filter((c) => c.error).length;
console.log(`run.mjs: ${runtime} ${version}: ${names.length} cases, ${errors} errors`);
