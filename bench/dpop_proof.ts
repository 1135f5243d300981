// The CPU cost of one DPoP proof check (RFC 9449 §4.3) in this process, per algorithm:
// `node --import tsx bench/dpop_proof.ts [N]`. Proofs are signed up front; only verify() is timed
// (parse, jwk import, signature, claims, thumbprint, the in-memory replay claim).
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { HmacDpopNonces } from '../src/dpop/nonce.js';
import { DpopProofVerifier } from '../src/dpop/proof.js';
import { MemoryReplayCache } from '../src/dpop/replay.js';
import { EventBus } from '../src/events.js';

const N = Number(process.argv[2]) || 2000;
const HTU = 'https://tessera.example/token';

for (const alg of ['ES256', 'EdDSA', 'RS256', 'PS256']) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  const iat = Math.floor(Date.now() / 1000);
  const proofs = await Promise.all(
    Array.from({ length: N }, () =>
      new SignJWT({ htm: 'POST', htu: HTU, iat, jti: randomUUID() })
        .setProtectedHeader({ typ: 'dpop+jwt', alg, jwk })
        .sign(privateKey),
    ),
  );
  const verifier = new DpopProofVerifier({
    replay: new MemoryReplayCache(Date.now),
    nonces: new HmacDpopNonces(new Uint8Array(32), Date.now),
    now: Date.now,
    events: new EventBus(),
  });
  // Warm-up (JIT, key import paths), then the timed run.
  for (const p of proofs.slice(0, 50))
    await verifier.verify({ headers: [p], method: 'POST', uri: `${HTU}x` }).catch(() => 0);
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (const p of proofs) await verifier.verify({ headers: [p], method: 'POST', uri: HTU });
  const wall = performance.now() - start;
  const used = process.cpuUsage(cpu);
  const cpuUs = (used.user + used.system) / N;
  process.stdout.write(
    `${alg.padEnd(6)} ${N} proofs: ${cpuUs.toFixed(0)} µs CPU per proof (${((wall * 1000) / N).toFixed(0)} µs wall)\n`,
  );
}
