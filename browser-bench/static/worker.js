// A dedicated worker: SQLite on OPFS runs in one (OPFS synchronous access handles exist only
// in dedicated workers), and so does each Argon2id setting (a fresh wasm memory each, as the
// app would derive keys off the page's thread). It loads the same wasm as the page, then
// answers { id, fn, args } messages with { id, value } or { id, error }.
import init, * as bench from './fieldnotes_browser_bench.js';

let wasm;
const ready = (async () => {
  const start = performance.now();
  wasm = await init();
  return { init_ms: performance.now() - start };
})();

self.onmessage = async (event) => {
  const { id, fn, args } = event.data;
  try {
    const setup = await ready;
    let value;
    if (fn === 'ready') {
      value = setup;
    } else if (fn === 'echo') {
      value = args[0];
    } else if (fn === 'memory') {
      value = wasm.memory.buffer.byteLength;
    } else {
      value = await bench[fn](...args);
    }
    self.postMessage({ id, value });
  } catch (e) {
    self.postMessage({ id, error: String(e && e.message ? e.message : e) });
  }
};
