// The field app's service worker. It keeps the app shell (this build's files) so the app
// opens with no network after the first visit. It answers only for the shell's own files;
// every other request, the API above all, goes to the network untouched and is never cached.
// `cargo xtask app` writes this build's version and its list of files in place of the two
// markers below.
const VERSION = '__FIELDNOTES_VERSION__';
const SHELL = __FIELDNOTES_SHELL__;
const PREFIX = 'fieldnotes-shell-';
const CACHE = PREFIX + VERSION;
const SHELL_URLS = new Set(SHELL.map((path) => new URL(path, self.registration.scope).href));

self.addEventListener('install', (event) => {
  // Fetch every file afresh (not from the HTTP cache), so one build's files go together.
  const requests = SHELL.map((path) => new Request(path, { cache: 'reload' }));
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll(requests))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(
        names
          .filter((name) => name.startsWith(PREFIX) && name !== CACHE)
          .map((name) => caches.delete(name)),
      ))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') {
    return;
  }
  const url = new URL(request.url);
  if (!SHELL_URLS.has(url.origin + url.pathname)) {
    return;
  }
  event.respondWith(
    caches.open(CACHE)
      .then((cache) => cache.match(request, { ignoreSearch: true }))
      .then((kept) => kept || fetch(request)),
  );
});
