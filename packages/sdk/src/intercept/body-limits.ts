/**
 * How much of a request body the interceptors hold in memory, one rule for every client
 * (docs/sdk.md, "Request bodies").
 */

/** A body of known length up to this is held (node:http: copied) so it can be sent again after a 401. */
export const MAX_REPLAYED_BODY = 1024 * 1024;

/**
 * SigV4: a body up to this is held to hash it into the signature. A larger one, or a stream of
 * unknown length that cannot be waited for, goes out UNSIGNED-PAYLOAD to S3 over https and is
 * refused (`body_not_signable`) anywhere else: a plain-http S3 or another AWS service.
 */
export const MAX_SIGNED_BODY = 8 * 1024 * 1024;

/** A body of this many bytes is held so that a 401 can be answered by sending it again. */
export function holdsForReplay(bytes: number): boolean {
  return bytes <= MAX_REPLAYED_BODY;
}

/** SigV4: a body of this many bytes is held to be hashed into the signature. */
export function holdsForSigning(bytes: number): boolean {
  return bytes <= MAX_SIGNED_BODY;
}
