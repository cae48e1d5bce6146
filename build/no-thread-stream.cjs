// Stands in for thread-stream in the gateway's bundle (build/bundle.mjs): pino loads it for its
// transports (a worker thread each), which the gateway does not use; loading worker_threads
// and thread-stream cost an emulated boot about 50 ms.
'use strict';
module.exports = class ThreadStream {
  constructor() {
    throw new Error('pino transports are not part of the gateway bundle (build/no-thread-stream.cjs)');
  }
};
