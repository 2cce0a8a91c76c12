import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, createWorld, type World } from '../../test/support/world.js';
import { Tessera } from './tessera.js';

/** With an OpenTelemetry SDK registered, the SDK's cloud calls show up as client spans. */
let world: World;
const exporter = new InMemorySpanExporter();

beforeAll(async () => {
  world = await createWorld();
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
});

afterAll(async () => {
  trace.disable();
  await world?.close();
});

describe('OpenTelemetry spans', () => {
  it('records tessera.attest and tessera.credential, with names and codes but no secret', async () => {
    const t = new Tessera({ cloudUrl: world.proxy.url, collectors: [world.collector()], events: false, attest: 'lazy' });
    try {
      await t.getCredential(world.api.url);
      await t.getCredential(world.denied.url).catch(() => undefined);
    } finally {
      await t.close();
    }
    const spans = exporter.getFinishedSpans();
    const names = spans.map((span) => span.name);
    expect(names).toContain('tessera.attest');
    expect(names.filter((name) => name === 'tessera.credential')).toHaveLength(2);
    const credential = spans.find((span) => span.name === 'tessera.credential' && span.status.code !== 2)!;
    expect(credential.attributes['tessera.server_workload']).toBe('api');
    const failed = spans.find((span) => span.name === 'tessera.credential' && span.status.code === 2)!;
    expect(failed.attributes['tessera.error_code']).toBe('condition_failed');
    const text = JSON.stringify(spans.map((span) => ({ name: span.name, attributes: span.attributes, status: span.status, events: span.events })));
    for (const secret of [API_KEY, ...world.proxy.edgeTokens, ...world.idp.minted]) expect(text).not.toContain(secret);
  });
});
