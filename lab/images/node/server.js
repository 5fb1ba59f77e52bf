'use strict';
// The lab's routes on Node's own `http` module: GET /, GET /bytes/N (byte i is i % 251), POST /echo.
// Deadlines (docs/architecture.md): header 2 s, idle keep-alive 5 s, stalled write 5 s.
const http = require('http');

const PORT = Number(process.env.PORT || 8080);
const MAX_BYTES = 16 * 1024 * 1024;
const HELLO = Buffer.from('hello, epoll\n');
const PATTERN = Buffer.alloc(MAX_BYTES);
for (let i = 0; i < MAX_BYTES; i++) PATTERN[i] = i % 251;

function reply(res, status, body, type) {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': body.length });
  res.end(body);
}

function handle(req, res) {
  // req.url is the target as sent: an absolute-form target ("http://host/path", RFC 9112 3.2.2) routes on its
  // path. The base is a fixed host, not the Host field: judging Host is Node's job, not this app's.
  let path;
  try {
    path = new URL(req.url, 'http://x').pathname;
  } catch (err) {
    return reply(res, 400, Buffer.from('bad request target\n'), 'text/plain');
  }
  if (path === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
    return reply(res, 200, HELLO, 'text/plain');
  }
  const bytes = /^\/bytes\/(\d{1,9})$/.exec(path);
  if (bytes && req.method === 'GET') {
    const size = Number(bytes[1]);
    if (size > MAX_BYTES) return reply(res, 413, Buffer.from('too large\n'), 'text/plain');
    return reply(res, 200, PATTERN.subarray(0, size), 'application/octet-stream');
  }
  if (path === '/echo' && req.method === 'POST') {
    // A declared length over the limit is refused before any of the body is read.
    if (Number(req.headers['content-length']) > MAX_BYTES) {
      return reply(res, 413, Buffer.from('too large\n'), 'text/plain');
    }
    // The body is copied into one buffer (its declared size, else doubled as it fills): a Buffer kept per chunk
    // costs ~400 B each (2-byte chunks: 200 times the body), and Buffer.concat at the end was a second copy.
    const declared = Number(req.headers['content-length']);
    let body = Buffer.allocUnsafe(Number.isInteger(declared) && declared > 0 ? declared : 64 * 1024);
    let length = 0;
    req.on('data', (chunk) => {
      if (length + chunk.length > MAX_BYTES) {
        reply(res, 413, Buffer.from('too large\n'), 'text/plain');
        req.destroy();
        return;
      }
      if (length + chunk.length > body.length) {
        const grown = Buffer.allocUnsafe(Math.min(MAX_BYTES, Math.max(2 * body.length, length + chunk.length)));
        body.copy(grown, 0, 0, length);
        body = grown;
      }
      chunk.copy(body, length);
      length += chunk.length;
    });
    req.on('end', () => reply(res, 200, body.subarray(0, length), 'application/octet-stream'));
    return undefined;
  }
  return reply(res, 404, Buffer.from('not found\n'), 'text/plain');
}

const server = http.createServer({
  // Node checks headersTimeout and requestTimeout only every connectionsCheckingInterval (30 s by default).
  connectionsCheckingInterval: 250,
  headersTimeout: 2000,
  requestTimeout: 0, // the body is bounded by the socket inactivity timeout below instead
}, handle);
server.keepAliveTimeout = 5000;
// Socket inactivity: a response the client stops reading (or a stalled body) ends after 5 s.
server.timeout = 5000;
server.maxHeadersCount = 100;

server.listen(PORT, '0.0.0.0', 4096);

process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
