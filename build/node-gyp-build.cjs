// node-gyp-build as the bundle sees it (build/bundle.sh aliases the package to this file). The
// one bundled package with native code is serialport's driver: its JavaScript is in the bundle,
// its native part stays in node_modules beside the bundle, and that is where this looks.
const { dirname } = require('node:path');

// The bundle's own require (its banner: resolved from the bundle's folder at run time).
const runtimeRequire = require;
module.exports = () => runtimeRequire('node-gyp-build')(dirname(runtimeRequire.resolve('@serialport/bindings-cpp/package.json')));
