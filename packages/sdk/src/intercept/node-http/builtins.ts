// Not `import http from 'node:http'`: an ES-module import of node:http reads every export,
// `WebSocket` & co. included, whose getters load Node's whole undici (tens of ms at start,
// for a process that may never fetch). The CommonJS objects are the ones patched anyway.
export const http = process.getBuiltinModule('node:http');
export const https = process.getBuiltinModule('node:https');
