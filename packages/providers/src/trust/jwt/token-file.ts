/**
 * Collector half: reading a JWT that the platform writes to a file (a Kubernetes projected
 * token, an OIDC token mounted by a CI system). The file is read again on every collect,
 * since the platform rotates it, and never more than the largest token verifiers accept.
 */
import { constants } from 'node:fs';
import { access, open } from 'node:fs/promises';
import { TrustError } from '../../errors.js';
import { MAX_JWT_EVIDENCE_BYTES } from './evidence.js';

/** Whether `path` is a readable file now. */
export async function isReadableFile(path: string): Promise<boolean> {
  try {
    await access(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** Reads and trims the token in `path`; errors name the file, never its content. */
export async function readTokenFile(path: string, provider: string): Promise<string> {
  let text: string;
  try {
    const file = await open(path, 'r');
    try {
      // One byte more than allowed tells "too large" apart from "exactly at the limit".
      const buffer = Buffer.alloc(MAX_JWT_EVIDENCE_BYTES + 2);
      const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
      text = buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await file.close();
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new TrustError('trust_provider_error', `cannot read token file ${path} (${code})`, { provider });
  }
  const token = text.trim();
  if (token.length === 0) throw new TrustError('evidence_invalid', `token file ${path} is empty`, { provider });
  if (token.length > MAX_JWT_EVIDENCE_BYTES) throw new TrustError('evidence_invalid', `token file ${path} holds a token too large`, { provider });
  return token;
}
