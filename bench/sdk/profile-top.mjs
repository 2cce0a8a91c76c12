// Top frames of CPU profiles: `node bench/sdk/profile-top.mjs <file.cpuprofile>... [--top 25]
// [--filter packages/sdk/dist] [--by self|total] [--from <µs>]` (--from: skip samples before that
// instant; the benchmark's JSON holds each variant's `profileFromUs`). Frames are grouped by function name and script
// position. `self`: time in the frame itself; `total`: time with the frame anywhere on the stack
// (what the frame costs, callees included). `--filter` keeps frames whose script contains the
// string (e.g. `packages/sdk/dist` for the SDK's own code) and prints their self-time share.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

function frameKey(callFrame) {
  const script = callFrame.url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|packages)\//, '$1/');
  return `${callFrame.functionName || '(anonymous)'}  ${script ? `${script}:${callFrame.lineNumber + 1}` : `(${callFrame.url || 'native'})`}`;
}

/** Each sample's time on the profile's clock (µs, monotonic: process.hrtime's clock). */
function sampleTimes(profile) {
  const times = new Float64Array(profile.samples.length);
  let t = profile.startTime;
  for (let i = 0; i < times.length; i++) times[i] = t += profile.timeDeltas?.[i] ?? 0;
  return times;
}

/**
 * Shares are of busy samples: `(idle)` (the event loop waiting) is left out, and with `fromUs`
 * every sample taken before that instant (start-up, warm-up).
 */
export function topFrames(profiles, { top = 25, filter, by = 'self', fromUs } = {}) {
  const self = new Map();
  const inclusive = new Map();
  let total = 0;
  for (const profile of profiles) {
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const parent = new Map();
    for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
    const deltas = profile.timeDeltas ?? [];
    const times = sampleTimes(profile);
    const counts = new Map();
    profile.samples.forEach((id, i) => {
      if (fromUs !== undefined && times[i] < fromUs) return;
      counts.set(id, (counts.get(id) ?? 0) + Math.max(0, deltas[i] ?? 0));
    });
    for (const [id, micros] of counts) {
      if (byId.get(id).callFrame.functionName === '(idle)') continue;
      const key = frameKey(byId.get(id).callFrame);
      self.set(key, (self.get(key) ?? 0) + micros);
      total += micros;
      const onStack = new Set();
      for (let at = id; at !== undefined; at = parent.get(at)) onStack.add(frameKey(byId.get(at).callFrame));
      for (const k of onStack) inclusive.set(k, (inclusive.get(k) ?? 0) + micros);
    }
  }
  const keep = ([key]) => !filter || key.includes(filter);
  const filteredSelf = [...self].filter(keep).reduce((sum, [, micros]) => sum + micros, 0);
  const rows = [...(by === 'total' ? inclusive : self)]
    .filter(keep)
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([frame]) => ({ frame, selfShare: (self.get(frame) ?? 0) / total, totalShare: (inclusive.get(frame) ?? 0) / total }));
  return { totalMs: total / 1000, filteredSelfShare: filteredSelf / total, rows };
}

/**
 * What a library's code costs, callees included, without what it merely hands on: every sample is
 * charged to the deepest frame on its stack whose script contains `filter` (the SDK's dist), unless
 * that frame is a pass-through (`forward` handing the request to the next dispatcher, a wrapping
 * handler's `on*` calling the caller's handler) and the time went to the code it handed on to.
 * Returns the share of busy samples so charged and the frames they were charged to.
 */
export function attributable(profiles, { filter, passThrough = [], top = 15, fromUs }) {
  const charged = new Map();
  let total = 0;
  let sum = 0;
  for (const profile of profiles) {
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const parent = new Map();
    for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
    const deltas = profile.timeDeltas ?? [];
    const times = sampleTimes(profile);
    profile.samples.forEach((id, i) => {
      if (fromUs !== undefined && times[i] < fromUs) return;
      const micros = Math.max(0, deltas[i] ?? 0);
      if (byId.get(id).callFrame.functionName === '(idle)') return;
      total += micros;
      for (let at = id; at !== undefined; at = parent.get(at)) {
        const frame = byId.get(at).callFrame;
        if (!frame.url.includes(filter)) continue;
        if (at !== id && passThrough.includes(frame.functionName)) return; // time in the code handed on to
        const key = frameKey(frame);
        charged.set(key, (charged.get(key) ?? 0) + micros);
        sum += micros;
        return;
      }
    });
  }
  return {
    share: total ? sum / total : 0,
    rows: [...charged].sort((a, b) => b[1] - a[1]).slice(0, top).map(([frame, micros]) => ({ frame, share: micros / total })),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' }, filter: { type: 'string' }, by: { type: 'string', default: 'self' }, from: { type: 'string' } },
  });
  const profiles = positionals.map((file) => JSON.parse(readFileSync(file, 'utf8')));
  const fromUs = values.from === undefined ? undefined : Number(values.from);
  const result = topFrames(profiles, { top: Number(values.top), filter: values.filter, by: values.by, fromUs });
  console.log(
    `${positionals.length} profile(s), ${result.totalMs.toFixed(0)} ms busy` +
      (values.filter ? `; frames matching "${values.filter}" hold ${(result.filteredSelfShare * 100).toFixed(1)}% of samples (self)` : ''),
  );
  console.log('  self   total  frame');
  for (const row of result.rows) console.log(`${(row.selfShare * 100).toFixed(1).padStart(5)}% ${(row.totalShare * 100).toFixed(1).padStart(5)}%  ${row.frame}`);
}
