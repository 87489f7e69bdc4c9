// Starts the field app: registers the service worker that keeps the app shell for use with no
// network, then loads the WebAssembly module, whose start function draws the page. Nothing of
// the app itself is written in JavaScript.
import init from './fieldnotes_app.js';

if ('serviceWorker' in navigator) {
  navigator.serviceWorker
    .register('sw.js')
    .catch((error) => console.error('Fieldnotes: the service worker was not registered', error));
}

await init();
