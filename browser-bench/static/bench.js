// The browser benchmark's page, driven by `cargo xtask browser-bench`, which serves this
// folder on 127.0.0.1 and reads what the page POSTs to /result, /done and /error.
//
// Phase "write": IndexedDB (strict, then relaxed durability) in the page; SQLite on OPFS
// (DELETE, then PERSIST journal) in a dedicated worker; Argon2id in a fresh worker per setting. Then the page
// reloads itself for phase "read": a cold open and list of what was written, on each engine.
import init, * as bench from './fieldnotes_browser_bench.js';

const PAGE_DOCS = 2000;
const EDITS = 200;
const ECHOES = 200;
const ARGON2_RUNS = 5;
// Each setting runs in a fresh worker, so the wasm memory's growth is that setting's own.
const ARGON2_SETTINGS = [
  { memory_kib: 19456, iterations: 2, parallelism: 1 },
  { memory_kib: 47104, iterations: 1, parallelism: 1 },
  { memory_kib: 65536, iterations: 3, parallelism: 1 },
];

async function post(path, body) {
  await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    // Typed arrays (the timings) as plain lists.
    body: JSON.stringify(body, (_key, value) => (ArrayBuffer.isView(value) ? Array.from(value) : value)),
  });
}

function fail(error) {
  document.getElementById('status').textContent = `failed: ${error}`;
  return post('/error', { error: String(error && error.stack ? error.stack : error) });
}
window.addEventListener('error', (e) => fail(e.message));
window.addEventListener('unhandledrejection', (e) => fail(e.reason));

// Start the SQLite worker; `ready_ms` is what the page waits before the store can be used.
async function startWorker() {
  const start = performance.now();
  const worker = new Worker('./worker.js', { type: 'module' });
  const pending = new Map();
  let next = 0;
  worker.onmessage = (event) => {
    const { id, value, error } = event.data;
    const waiting = pending.get(id);
    pending.delete(id);
    if (error === undefined) waiting.resolve(value);
    else waiting.reject(new Error(error));
  };
  worker.onerror = (event) => {
    for (const waiting of pending.values()) waiting.reject(new Error(`worker: ${event.message}`));
  };
  const call = (fn, ...args) =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, fn, args });
    });
  const setup = await call('ready');
  return { call, worker, ready_ms: performance.now() - start, ...setup };
}

// A worker with the OPFS VFS installed: `ready_ms` is what the page waits before the SQLite
// store can be used.
async function startSqliteWorker() {
  const start = performance.now();
  const worker = await startWorker();
  worker.install_ms = await worker.call('sqlite_install');
  worker.ready_ms = performance.now() - start;
  return worker;
}

// The round trip of one message with a 2 KB sealed value, page to worker and back.
async function echoes(worker) {
  const payload = new Uint8Array(2088);
  const times = [];
  for (let i = 0; i < ECHOES; i++) {
    const start = performance.now();
    await worker.call('echo', payload);
    times.push(performance.now() - start);
  }
  return times;
}

async function stopWorker(worker) {
  await worker.call('sqlite_release');
  worker.worker.terminate();
}

async function argon2() {
  const out = [];
  for (const setting of ARGON2_SETTINGS) {
    const worker = await startWorker();
    const memory_before = await worker.call('memory');
    const times = [];
    for (let i = 0; i < ARGON2_RUNS; i++) {
      times.push(await worker.call('argon2id', setting.memory_kib, setting.iterations, setting.parallelism));
    }
    const memory_after = await worker.call('memory');
    worker.worker.terminate();
    out.push({ ...setting, times, memory_before, memory_after });
  }
  return out;
}

async function writePhase() {
  const results = {};
  results.idb_strict = await bench.idb_write('bench-strict', 'strict', PAGE_DOCS, EDITS);
  results.idb_relaxed = await bench.idb_write('bench-relaxed', 'relaxed', PAGE_DOCS, EDITS);
  const worker = await startSqliteWorker();
  results.worker = {
    ready_ms: worker.ready_ms,
    init_ms: worker.init_ms,
    install_ms: worker.install_ms,
    echo_ms: await echoes(worker),
  };
  results.sqlite_delete = await worker.call('sqlite_write', 'bench-delete.db', 'DELETE', PAGE_DOCS, EDITS);
  results.sqlite_persist = await worker.call('sqlite_write', 'bench-persist.db', 'PERSIST', PAGE_DOCS, EDITS);
  await stopWorker(worker);
  results.argon2 = await argon2();
  return results;
}

async function readPhase() {
  const results = {};
  results.idb = await bench.idb_read('bench-strict');
  const worker = await startSqliteWorker();
  results.worker = { ready_ms: worker.ready_ms, init_ms: worker.init_ms, install_ms: worker.install_ms };
  results.sqlite = await worker.call('sqlite_read', 'bench-delete.db');
  await stopWorker(worker);
  return results;
}

async function main() {
  const phase = new URLSearchParams(location.search).get('phase') || 'write';
  const start = performance.now();
  await init();
  const init_ms = performance.now() - start;
  const about = {
    user_agent: navigator.userAgent,
    cross_origin_isolated: self.crossOriginIsolated,
    init_ms,
  };
  if (phase === 'write') {
    const results = await writePhase();
    await post('/result', { phase, about, results });
    location.href = './index.html?phase=read';
  } else {
    const results = await readPhase();
    await post('/result', { phase, about, results });
    document.getElementById('status').textContent = 'done';
    await post('/done', {});
  }
}

main().catch(fail);
