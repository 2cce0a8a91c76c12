/**
 * A response body read whole, but never more than `limit` bytes: providers call identity
 * providers and cloud APIs on the control plane's behalf, and an answer that does not stop must
 * not fill its memory. `undefined` when the body is larger (the rest is cancelled unread).
 */
export async function readCapped(response: Response, limit: number): Promise<Uint8Array | undefined> {
  if (response.body === null) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}
