// A node:test reporter that writes one JSON line per finished test: { file, name, passed }.
// `name` is the path of suite and test names (`suite > test`); suites themselves are not listed,
// their tests are. Used by compare.mjs to tell which tests failed in a run.
import { relative } from 'node:path';

export default async function* reporter(source) {
  /** file → the names of the tests currently open, by nesting level. */
  const open = new Map();
  for await (const event of source) {
    const data = event.data;
    if (event.type === 'test:start') {
      const stack = open.get(data.file) ?? [];
      stack.length = data.nesting;
      stack.push(data.name);
      open.set(data.file, stack);
    } else if ((event.type === 'test:pass' || event.type === 'test:fail') && data.details?.type !== 'suite') {
      const path = [...(open.get(data.file) ?? []).slice(0, data.nesting), data.name].join(' > ');
      const file = data.file ? relative(process.cwd(), data.file) : '(runner)';
      yield `${JSON.stringify({ file, name: path, passed: event.type === 'test:pass', skipped: Boolean(data.skip || data.todo) })}\n`;
    }
  }
}
