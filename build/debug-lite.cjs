// Stands in for the `debug` package in the gateway's bundle (build/bundle.mjs): serialport's
// drivers log through it. The package sets itself up when the bundle loads, whether or not
// anything is ever logged: a colour check that builds process.stderr's stream and a search of
// node_modules for supports-color, 0.24 s of a CPU profile taken in an emulated boot (Node's
// tty and streams, most of that, load later anyway). This one does nothing until a message is
// written, and then what the package does without colours: the message on stderr when DEBUG
// names its namespace (`serialport*`, `*`; `-name` excludes).
'use strict';
const { format } = require('node:util');

/** Whether DEBUG, as the package reads it, names `namespace`. */
function named(namespace) {
  let on = false;
  for (const pattern of (process.env.DEBUG ?? '').split(/[\s,]+/).filter(Boolean)) {
    const exclude = pattern.startsWith('-');
    const re = new RegExp(`^${(exclude ? pattern.slice(1) : pattern).replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
    if (re.test(namespace)) on = !exclude;
  }
  return on;
}

module.exports = function createDebug(namespace) {
  let enabled;
  const debug = (...args) => {
    enabled ??= named(namespace);
    if (enabled) process.stderr.write(`${new Date().toISOString()} ${namespace} ${format(...args)}\n`);
  };
  return debug;
};
module.exports.default = module.exports;
