// `node --import tsx bench/signing.ts`: access-token signing and verification, jose (WebCrypto)
// against node:crypto KeyObjects (src/tokens/compact_jws.ts), per algorithm, in one process.
// Prints CPU µs per operation (user + system of the whole process, thread pool included, one at a
// time), so a busy machine changes the numbers less than wall time would.
import { generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { type FastAlg, signCompact, verifyCompact } from '../src/tokens/compact_jws.js';

const N = Number(process.env.N) || 3000;
const payload = {
  iss: 'https://as.example',
  sub: 'user-1',
  aud: 'https://api.example',
  iat: 1_800_000_000,
  exp: 1_800_000_300,
  jti: 'b7c1d2e3-0000-4000-8000-000000000000',
  client_id: 'c_abcdefghijklmnop',
  scope: 'read write',
};

async function time(run: () => unknown): Promise<number> {
  for (let i = 0; i < N / 10; i++) await run();
  const start = process.cpuUsage();
  for (let i = 0; i < N; i++) await run();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / N;
}

for (const alg of ['ES256', 'EdDSA'] as FastAlg[]) {
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
  const header = { alg, kid: 'k1', typ: 'at+jwt' };
  const token = signCompact(header, payload, privateKey);
  const rows = {
    'sign jose': await time(() => new SignJWT(payload).setProtectedHeader(header).sign(privateKey)),
    'sign node:crypto': await time(() => signCompact(header, payload, privateKey)),
    'verify jose': await time(() =>
      jwtVerify(token, publicKey, { algorithms: [alg], currentDate: new Date(1_800_000_100_000) }),
    ),
    'verify node:crypto': await time(() => verifyCompact(token, alg, publicKey)),
  };
  for (const [name, us] of Object.entries(rows))
    process.stdout.write(`${alg.padEnd(6)} ${name.padEnd(20)} ${us.toFixed(1).padStart(7)} µs\n`);
}
