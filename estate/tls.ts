import { createPrivateKey, X509Certificate } from "node:crypto";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generate } from "selfsigned";

export interface EstateCertificate {
  readonly cert: string;
  readonly key: string;
  /** A file holding `cert`, for `NODE_EXTRA_CA_CERTS` or a client's `ca` option. */
  readonly caPath: string;
  /** The temporary folder made for the CA file (removed on close), when no folder was given. */
  readonly tempDir?: string;
}

/**
 * A fresh self-signed certificate for the loopback names, made at every start. Clients trust exactly
 * this certificate (it is its own CA); nothing turns TLS verification off.
 */
export async function createCertificate(dir?: string): Promise<EstateCertificate> {
  const now = new Date();
  const pems = await generate([{ name: "commonName", value: "switchyard-local-estate" }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + 30 * 86_400_000),
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, digitalSignature: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: "localhost" },
          { type: 7, ip: "127.0.0.1" },
          { type: 7, ip: "::1" },
        ],
      },
    ],
  });
  const folder = dir ?? (await mkdtemp(join(tmpdir(), "switchyard-estate-")));
  const caPath = join(folder, "estate-ca.pem");
  await writeFile(caPath, pems.cert, { mode: 0o644 });
  return { cert: pems.cert, key: pems.private, caPath, ...(dir ? {} : { tempDir: folder }) };
}

const DAY_MS = 86_400_000;

/**
 * The certificate kept in `dir` (estate-ca.pem, estate-ca.key) while it has more than a day to run,
 * else a new one kept there: clients given the CA file once keep trusting the estate across restarts.
 * The key file is readable by its owner only. A pair that does not match (a start killed between the
 * two writes) or does not read is replaced.
 */
export async function keptCertificate(dir: string): Promise<EstateCertificate> {
  const caPath = join(dir, "estate-ca.pem");
  const keyPath = join(dir, "estate-ca.key");
  const [cert, key] = await Promise.all([readFile(caPath, "utf8").catch(() => undefined), readFile(keyPath, "utf8").catch(() => undefined)]);
  if (cert !== undefined && key !== undefined && usable(cert, key)) return { cert, key, caPath };
  const created = await createCertificate(dir);
  await writeFile(keyPath, created.key, { mode: 0o600 });
  return created;
}

function usable(cert: string, key: string): boolean {
  try {
    const x509 = new X509Certificate(cert);
    return x509.checkPrivateKey(createPrivateKey(key)) && Date.parse(x509.validTo) - Date.now() > DAY_MS;
  } catch {
    return false;
  }
}
