'use strict';
// A throwaway CA and a server certificate for 127.0.0.1 (openssl CLI), the SPKI hash Chromium
// is told to trust (--ignore-certificate-errors-spki-list), and a fetch that trusts the CA.
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');

/** Resolves {dir, caFile, certFile, keyFile, caPem, spki, cleanup()} in a fresh temp dir. */
function makeTestCertificates() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camview-e2e-tls-'));
  const f = (n) => path.join(dir, n);
  const ssl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'),
    '-days', '2', '-subj', '/CN=camview e2e CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('key.pem'), '-out', f('leaf.csr'), '-subj', '/CN=127.0.0.1');
  fs.writeFileSync(f('leaf.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n');
  ssl('x509', '-req', '-in', f('leaf.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('leaf.pem'), '-days', '2', '-extfile', f('leaf.ext'));
  const leafPem = fs.readFileSync(f('leaf.pem'), 'utf8');
  const caPem = fs.readFileSync(f('ca.pem'), 'utf8');
  fs.writeFileSync(f('cert.pem'), leafPem + caPem); // the chain the server sends
  const spkiDer = new crypto.X509Certificate(leafPem).publicKey.export({ type: 'spki', format: 'der' });
  const spki = crypto.createHash('sha256').update(spkiDer).digest('base64');
  return {
    dir, caFile: f('ca.pem'), certFile: f('cert.pem'), keyFile: f('key.pem'), caPem, spki,
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A minimal `fetch` over node:https that trusts only `caPem`: (url, {method, headers, body,
 * signal}) -> {status, headers: Map-like get(), json(), text()}.
 */
function fetchTrusting(caPem) {
  const agent = new https.Agent({ ca: caPem, keepAlive: false });
  return (url, init = {}) => new Promise((resolve, reject) => {
    const req = https.request(url, { method: init.method || 'GET', headers: init.headers || {}, agent }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({
        status: res.statusCode, ok: res.statusCode >= 200 && res.statusCode < 300,
        headers: { get: (n) => res.headers[n.toLowerCase()] ?? null },
        json: async () => JSON.parse(data), text: async () => data,
      }));
    });
    req.on('error', reject);
    if (init.signal) init.signal.addEventListener('abort', () => req.destroy(new Error('aborted')));
    if (init.body) req.write(init.body);
    req.end();
  });
}

module.exports = { makeTestCertificates, fetchTrusting };
