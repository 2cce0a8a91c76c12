import { destination } from '@tessera/providers';
import { Type } from 'typebox';
import type { TypedSchemas } from '../objects/kinds.js';
import type { DestinationGuard } from '../egress/destination-guard.js';

const FromBeginning = Type.Optional(
  Type.Boolean({
    default: false,
    description:
      "Export the resource set's whole audit history; by default a new stream starts with the events from its own creation on",
  }),
);

const FileConfig = Type.Object(
  {
    fileName: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*\\.jsonl$', ...destination }),
    maxBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 10 * 1024 ** 3, default: 100 * 1024 ** 2 })),
    maxFiles: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 5 })),
    fromBeginning: FromBeginning,
  },
  { additionalProperties: false },
);

const WebhookConfig = Type.Object(
  {
    // Where the events go, with the authorization secret.
    url: Type.String({ maxLength: 2048, pattern: '^https?://[^\\s]+$', ...destination }),
    batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    flushIntervalMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000, default: 1000 })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000, default: 5000 })),
    fromBeginning: FromBeginning,
  },
  { additionalProperties: false },
);

const WebhookSecrets = Type.Object(
  { authorization: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })) },
  { additionalProperties: false },
);

/**
 * Where audit events can be exported. A `file` stream writes only inside its resource set's
 * folder, `audit/<resourceSetId>/` in the data directory (a name, never a path), so an editor
 * cannot make the server write elsewhere, nor touch another set's files. A `webhook` stream
 * reaches only the addresses the guard allows (public ones, unless the operator allow-lists more).
 */
export function logStreamTypes(guard: DestinationGuard): Record<string, TypedSchemas> {
  return {
    file: {
      configSchema: FileConfig,
      secretsSchema: Type.Object({}, { additionalProperties: false }),
      validate(config) {
        // `name.<n>.jsonl` are the rotated files of `name.jsonl`: a stream of that name would mix with them.
        const rotated = /\.[0-9]+\.jsonl$/.test((config as { fileName: string }).fileName);
        return rotated ? ['fileName must not end in .<number>.jsonl: such names are kept for rotated files'] : [];
      },
    },
    webhook: {
      configSchema: WebhookConfig,
      secretsSchema: WebhookSecrets,
      validate(config) {
        const url = URL.parse((config as { url: string }).url);
        if (!url) return ['url is not a valid URL'];
        if (url.username !== '' || url.password !== '') return ['url must not contain credentials; set the authorization secret instead'];
        const refused = guard.checkUrl(url);
        return refused ? [refused] : [];
      },
    },
  };
}
