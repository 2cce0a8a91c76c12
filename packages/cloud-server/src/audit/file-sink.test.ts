import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeAuditEvent } from '../../test/support/store-backends.js';
import type { AuditEvent } from '../store/types.js';
import { FileSink } from './file-sink.js';

const signal = new AbortController().signal;

function readLines(filePath: string): AuditEvent[] {
  const text = fs.readFileSync(filePath, 'utf8');
  expect(text === '' || text.endsWith('\n')).toBe(true);
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as AuditEvent);
}

describe('FileSink', () => {
  let dataDir: string;
  const sinks: FileSink[] = [];
  const sink = (options: Partial<ConstructorParameters<typeof FileSink>[0]> = {}): FileSink => {
    const created = new FileSink({ dataDir, resourceSetId: 'set-a', fileName: 'audit.jsonl', maxBytes: 1024 ** 2, maxFiles: 3, ...options });
    sinks.push(created);
    return created;
  };

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-file-sink-'));
  });
  afterEach(async () => {
    for (const each of sinks.splice(0)) await each.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('appends one JSON event per line, across deliveries and reopenings', async () => {
    const events = Array.from({ length: 5 }, (_, index) =>
      makeAuditEvent({ resourceSetId: 'set-a', data: { index, text: 'line\nbreak "quoted" ☕' } }),
    );
    const first = sink();
    await first.deliver(events.slice(0, 2), signal);
    await first.deliver(events.slice(2, 4), signal);
    await first.close();
    await sink().deliver(events.slice(4), signal);
    expect(readLines(path.join(dataDir, 'audit', 'set-a', 'audit.jsonl'))).toEqual(events);
  });

  it("creates the audit folder and the set's folder 0700 and the file 0600, tightening existing ones", async () => {
    const folders = [path.join(dataDir, 'audit'), path.join(dataDir, 'audit', 'set-a')];
    const target = sink();
    await target.deliver([makeAuditEvent()], signal);
    expect(target.filePath).toBe(path.join(dataDir, 'audit', 'set-a', 'audit.jsonl'));
    for (const folder of folders) expect(fs.statSync(folder).mode & 0o777).toBe(0o700);
    expect(fs.statSync(target.filePath).mode & 0o777).toBe(0o600);

    await target.close();
    for (const folder of folders) fs.chmodSync(folder, 0o755);
    fs.chmodSync(target.filePath, 0o644);
    await sink().deliver([makeAuditEvent()], signal);
    for (const folder of folders) expect(fs.statSync(folder).mode & 0o777).toBe(0o700);
    expect(fs.statSync(target.filePath).mode & 0o777).toBe(0o600);
  });

  it('rotates by size, keeps maxFiles rotated files and drops the oldest', async () => {
    const events = Array.from({ length: 40 }, (_, index) => makeAuditEvent({ data: { index } }));
    const lineBytes = Buffer.byteLength(`${JSON.stringify(events[0])}\n`);
    const target = sink({ maxBytes: lineBytes * 4 + 10, maxFiles: 2 });
    for (let start = 0; start < events.length; start += 7) await target.deliver(events.slice(start, start + 7), signal);

    const names = fs.readdirSync(target.directory).sort();
    expect(names).toEqual(['audit.1.jsonl', 'audit.2.jsonl', 'audit.jsonl']);
    const current = readLines(target.filePath);
    const newer = readLines(target.rotatedPath(1));
    const older = readLines(target.rotatedPath(2));
    for (const file of [target.filePath, target.rotatedPath(1), target.rotatedPath(2)]) {
      expect(fs.statSync(file).size).toBeLessThanOrEqual(lineBytes * 4 + 10);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    }
    // 40 events at 4 per file: files hold 33-36, 37-40 and the current one; older ones are gone.
    expect([...older, ...newer, ...current]).toEqual(events.slice(28));
    expect(newer).toHaveLength(4);
    expect(older).toHaveLength(4);
  });

  it('writes an event larger than maxBytes to a file of its own', async () => {
    const target = sink({ maxBytes: 200, maxFiles: 1 });
    const small = makeAuditEvent();
    const large = makeAuditEvent({ data: { blob: 'x'.repeat(500) } });
    await target.deliver([small, large], signal);
    expect(readLines(target.rotatedPath(1))).toEqual([small]);
    expect(readLines(target.filePath)).toEqual([large]);
  });

  it('cuts off a torn last line left by a crash before appending', async () => {
    const target = sink();
    const before = makeAuditEvent();
    await target.deliver([before], signal);
    await target.close();
    fs.appendFileSync(target.filePath, '{"id":"half-written-ev');
    const after = makeAuditEvent();
    await sink().deliver([after], signal);
    expect(readLines(target.filePath)).toEqual([before, after]);

    fs.writeFileSync(target.filePath, 'no newline at all');
    await sink().deliver([after], signal);
    expect(readLines(target.filePath)).toEqual([after]);
  });

  it('refuses a file name or a resource set id that is a path', () => {
    expect(() => sink({ fileName: '../escape.jsonl' })).toThrow(/plain file name/);
    expect(() => sink({ fileName: 'audit.log' })).toThrow(/\.jsonl/);
    for (const resourceSetId of ['..', '.', '', 'a/b']) expect(() => sink({ resourceSetId })).toThrow(/plain name/);
  });

  it('takes over its files from the shared folder of earlier versions only when told to, never overwriting', async () => {
    const legacy = path.join(dataDir, 'audit');
    fs.mkdirSync(legacy, { recursive: true });
    const [old, rotated, fresh] = [makeAuditEvent(), makeAuditEvent(), makeAuditEvent()];
    fs.writeFileSync(path.join(legacy, 'audit.jsonl'), `${JSON.stringify(old)}\n`);
    fs.writeFileSync(path.join(legacy, 'audit.1.jsonl'), `${JSON.stringify(rotated)}\n`);
    const other = sink({ resourceSetId: 'set-b' });
    await other.deliver([fresh], signal);
    expect(readLines(other.filePath)).toEqual([fresh]);
    expect(fs.existsSync(path.join(legacy, 'audit.jsonl'))).toBe(true);

    const owner = sink({ adoptLegacyFiles: true });
    await owner.deliver([fresh], signal);
    expect(readLines(owner.rotatedPath(1))).toEqual([rotated]);
    expect(readLines(owner.filePath)).toEqual([old, fresh]);
    expect(fs.readdirSync(legacy).sort()).toEqual(['set-a', 'set-b']);
  });
});
