import { mkdtemp, writeFile } from "node:fs/promises";
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
