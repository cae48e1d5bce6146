// Stands in for node:assert in the gateway's bundle (build/bundle.mjs). Its one user there,
// sonic-boom (pino's file writer), calls assert(condition, message); Node's module would load
// its diff and colour machinery with it, about 80 ms of an emulated boot.
'use strict';
function assert(value, message) {
  if (!value) throw Object.assign(new Error(message ?? 'assertion failed'), { code: 'ERR_ASSERTION' });
}
module.exports = assert;
module.exports.ok = assert;
