import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { codeBlocks, killGroup, ROOT, type ShellResult } from './examples.js';

/**
 * Runs the commands and code samples of README.md and docs/ as a reader would: each "walk" is
 * one terminal session in which a page's blocks are pasted in order, against a real control
 * plane on loopback. Every `sh` and `js` block of the docs must be claimed by a walk step, or
 * say why it is not run here.
 */

export interface DocBlock {
  /** Relative to the repository root: `README.md`, `docs/sdk.md`. */
  readonly file: string;
  readonly line: number;
  readonly lang: string;
  readonly text: string;
}

/** Languages whose blocks are commands or code a reader runs (not outputs, requests or data). */
const RUNNABLE_LANGUAGES = new Set(['sh', 'bash', 'js', 'javascript', 'mjs']);

/** A `text` block that starts with `$ ` is a transcript: commands, each followed by what it prints. */
export const isTranscript = (block: DocBlock) => block.lang === 'text' && block.text.startsWith('$ ');

/** Blocks a reader runs: commands, code, and the commands of transcripts. */
export const isRunnable = (block: DocBlock) => RUNNABLE_LANGUAGES.has(block.lang) || isTranscript(block);

export function docFiles(): string[] {
  return ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).sort().map((name) => `docs/${name}`)];
}

/** Fenced blocks of a Markdown file (relative to the repository root) with their line numbers. */
export function blocksOf(file: string): DocBlock[] {
  return codeBlocks(join(ROOT, file)).map((block) => ({ file, ...block }));
}

/** Which block a step means: the `nth` (default 1st) block of `file` whose text starts with `starts`. */
export interface BlockRef {
  readonly file: string;
  readonly starts: string;
  readonly nth?: number;
  /** The block runs again, as the page says in words ("start it again with ..."): it is claimed by its first run. */
  readonly again?: boolean;
  /** Replacements for this step only, after the walk's. */
  readonly replace?: ReadonlyArray<readonly [string, string]>;
}

export type Step =
  /** Pasted into the session as it is. */
  | (BlockRef & { readonly run: 'sh' })
  /**
   * A long-running command ("in a first terminal"): earlier lines run in the session, the last
   * command runs in the background until the walk ends. The walk waits for `ready` in its output
   * and keeps a printed bootstrap admin key in `$BOOTSTRAP_KEY`.
   */
  | (BlockRef & { readonly run: 'background'; readonly ready: string })
  /** A file the page says to save under this name (in the session's current directory); any language. */
  | (BlockRef & { readonly run: 'save'; readonly as: string })
  /** A JavaScript sample run as an ES module in the session's current directory, with what a fragment leaves out around it. */
  | (BlockRef & {
      readonly run: 'node';
      readonly before?: string;
      readonly after?: string;
      /** A module that imports the sample as `./sample.mjs` and uses what it exports; run instead of the sample. */
      readonly driver?: string;
    })
  /**
   * A transcript: each `$ ` command runs (a server until it has printed the last line shown),
   * and its output must match the lines shown, where `…` and the `vary` patterns stand for
   * anything (times, ids, sizes).
   */
  | (BlockRef & { readonly run: 'transcript'; readonly vary?: readonly RegExp[] })
  /** A line the test adds between blocks: what the page says in words ("stop the server", "with the printed key"). */
  | { readonly glue: string };

export interface Walk {
  readonly name: string;
  /** Commands the walk needs that the project does not install (a cloud's CLI): without them it is skipped. */
  readonly requires?: readonly string[];
  /** `repo`: the repository root (pages that use its paths); `project`: a fresh directory whose `node_modules` is the installed project. */
  readonly cwd: 'repo' | 'project';
  /** Exact replacements in every block, for what a page leaves to the reader (its host names, a date, an id). */
  readonly replace?: ReadonlyArray<readonly [string, string]>;
  readonly env?: Record<string, string>;
  readonly steps: readonly Step[];
  readonly timeoutMs?: number;
}

/** A block the suite does not run, and why; or where else it runs. */
export interface NotRun extends BlockRef {
  readonly reason: string;
}

export function findBlock(ref: BlockRef, blocks: readonly DocBlock[], anyLanguage = false): DocBlock {
  const matches = blocks.filter((b) => b.file === ref.file && (anyLanguage || isRunnable(b)) && b.text.startsWith(ref.starts));
  const block = matches[(ref.nth ?? 1) - 1];
  if (!block) throw new Error(`${ref.file}: no ${ref.nth ?? 1}. runnable block starting with ${JSON.stringify(ref.starts)} (found ${matches.length})`);
  return block;
}

const shellQuote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

/** The last command of a block (with its `\` continuations), and the lines before it. */
function splitLastCommand(text: string): { before: string; last: string } {
  const lines = text.replace(/\n+$/, '').split('\n');
  let start = lines.length - 1;
  while (start > 0 && lines[start - 1]!.endsWith('\\')) start -= 1;
  return { before: lines.slice(0, start).join('\n'), last: lines.slice(start).join('\n') };
}

/** A block's text after the walk's replacements, then the step's. */
function replaced(walk: Walk, step: BlockRef, text: string): string {
  return [...(walk.replace ?? []), ...(step.replace ?? [])].reduce((out, [from, to]) => out.replaceAll(from, to), text);
}

/** The bash script of a walk: its steps in order, each announced on stderr, background jobs stopped at the end. */
export function walkScript(walk: Walk, blocks: readonly DocBlock[], logDir: string): string {
  const parts = [
    'set -euo pipefail',
    'BOOTSTRAP_KEY=',
    'set -m # each background job in its own process group, so that it can be stopped with everything it started',
    `__stop_all() { for pid in $(jobs -p); do kill -TERM -- "-$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }`,
    'trap __stop_all EXIT',
    `__pids=${shellQuote(join(logDir, 'pids'))}`,
    // Keeps the bootstrap admin key a server printed in a log, if it printed one.
    `__keep_key() { local key; key=$(grep -oE 'tsk_[A-Za-z0-9_-]{20,}' "$1" | head -n 1 || true); if [ -n "$key" ]; then BOOTSTRAP_KEY=$key; fi; }`,
    // Starts a command in the background, logging to a file ($BG_LOG), and waits for a pattern
    // in its output; fails at once if the command exits first. Keeps a printed bootstrap admin key.
    `__start_bg() {
  local command=$1 pattern=$2 log; log=${shellQuote(logDir)}/background-$RANDOM.log
  ( eval "$command" ) > "$log" 2>&1 &
  local pid=$!; echo "$pid" >> "$__pids"; BG_LOG=$log
  for _ in $(seq 600); do
    if grep -qE -- "$pattern" "$log"; then
      __keep_key "$log"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; echo "exited before printing: $pattern" >&2; return 1; }
    sleep 0.1
  done
  cat "$log" >&2; echo "timed out waiting for: $pattern" >&2; return 1
}`,
    // Runs a transcript's command and prints its output: to its end, or for a server, until it
    // has printed the given line, and then stops it.
    `__transcript() {
  local command=$1 until=$2 log; log=${shellQuote(logDir)}/transcript-$RANDOM.log
  ( eval "$command" ) > "$log" 2>&1 &
  local pid=$!
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || break
    # What it printed up to here is what the page shows; what it prints as it stops is not.
    if [ -n "$until" ] && grep -qF -- "$until" "$log"; then cp "$log" "$log.shown"; kill -TERM -- "-$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; mv "$log.shown" "$log"; break; fi
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  __keep_key "$log"
  cat "$log"
  if [ -s "$log" ] && [ -n "$(tail -c 1 "$log")" ]; then echo; fi
}`,
    // Stops the last background command with everything it started, like Ctrl-C in its terminal.
    `__stop_last() {
  local pid; pid=$(tail -n 1 "$__pids"); sed -i '$d' "$__pids"
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 -- "-$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
}`,
  ];
  for (const step of walk.steps) {
    if ('glue' in step) {
      parts.push(`echo '── (test) ${step.glue.split('\n')[0]!.replaceAll("'", '')}' >&2`, step.glue);
      continue;
    }
    const block = findBlock(step, blocks, step.run === 'save' || step.run === 'transcript');
    const text = replaced(walk, step, block.text);
    parts.push(`echo '── ${block.file}:${block.line} (${step.run})' >&2`);
    switch (step.run) {
      case 'sh':
        parts.push(text);
        break;
      case 'save':
        parts.push(`printf '%s\\n' ${shellQuote(text)} > ${shellQuote(step.as)}`);
        break;
      case 'node': {
        const sample = [step.before ?? '', text, step.after ?? ''].join('\n');
        if (step.driver === undefined) {
          parts.push(`printf '%s\\n' ${shellQuote(sample)} > docs-sample.mjs`, 'node docs-sample.mjs', 'rm docs-sample.mjs');
        } else {
          parts.push(
            `printf '%s\\n' ${shellQuote(sample)} > sample.mjs`,
            `printf '%s\\n' ${shellQuote(step.driver)} > docs-driver.mjs`,
            'node docs-driver.mjs',
            'rm sample.mjs docs-driver.mjs',
          );
        }
        break;
      }
      case 'transcript':
        transcriptCommands(text).forEach(({ command, expected }, n) => {
          const until = expected.filter((line) => line.trim() !== '').at(-1)?.split('…')[0]?.trim() ?? '';
          parts.push(`echo '@@transcript ${block.line} ${n}@@'`, `__transcript ${shellQuote(command)} ${shellQuote(until)}`, `echo '@@end@@'`);
        });
        break;
      case 'background': {
        const { before, last } = splitLastCommand(text);
        parts.push(before, `__start_bg ${shellQuote(last)} ${shellQuote(step.ready)}`);
        break;
      }
    }
  }
  return parts.join('\n');
}

/**
 * Runs a walk with bash in its own process group. On a timeout the shell gets SIGTERM, so that
 * its exit trap stops what it started; whatever is left of its background jobs is killed after.
 */
export async function runWalk(walk: Walk, blocks: readonly DocBlock[], options: { dir: string; env: Record<string, string> }): Promise<ShellResult> {
  const logDir = join(options.dir, '.walk-logs');
  mkdirSync(logDir, { recursive: true });
  const script = walkScript(walk, blocks, logDir);
  const timeoutMs = walk.timeoutMs ?? 90_000;
  const child = spawn('bash', ['-c', script], {
    cwd: walk.cwd === 'repo' ? ROOT : options.dir,
    env: { ...options.env, ...walk.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid!, 'SIGTERM');
    setTimeout(() => killGroup(child.pid!, 'SIGKILL'), 5_000).unref();
  }, timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
  clearTimeout(timer);
  const pids = join(logDir, 'pids');
  if (existsSync(pids)) for (const pid of readFileSync(pids, 'utf8').split('\n').filter(Boolean)) killGroup(Number(pid), 'SIGKILL');
  if (timedOut) stderr += `\n(the walk timed out after ${timeoutMs} ms)`;
  return { code, stdout, stderr };
}

interface TranscriptCommand {
  command: string;
  expected: string[];
}

function transcriptCommands(text: string): TranscriptCommand[] {
  const commands: TranscriptCommand[] = [];
  for (const line of text.replace(/\n+$/, '').split('\n')) {
    if (line.startsWith('$ ')) commands.push({ command: line.slice(2), expected: [] });
    else commands.at(-1)!.expected.push(line);
  }
  return commands;
}

export const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const WILDCARD = '\u0000';

/**
 * Compares what the transcripts of a walk printed with what their pages show. `expand` turns
 * the page's text, after the walk's replacements, into what the shell made of it (variables).
 * Returns one message per mismatch.
 */
export function checkTranscripts(walk: Walk, blocks: readonly DocBlock[], stdout: string, expand: (text: string) => string): string[] {
  const problems: string[] = [];
  const printed = new Map<string, string[]>();
  for (const m of stdout.matchAll(/@@transcript (\d+) (\d+)@@\n([\s\S]*?)^@@end@@$/gm)) printed.set(`${m[1]} ${m[2]}`, m[3]!.replace(/\n+$/, '').split('\n'));
  for (const step of walk.steps) {
    if ('glue' in step || step.run !== 'transcript') continue;
    const block = findBlock(step, blocks, true);
    const text = replaced(walk, step, block.text);
    transcriptCommands(text).forEach(({ command, expected }, n) => {
      const actual = printed.get(`${block.line} ${n}`);
      if (actual === undefined) return void problems.push(`${block.file}:${block.line}: \`${command}\` did not run`);
      const shown = expected.join('\n').replace(/\n+$/, '').split('\n');
      const mismatch =
        shown.length !== actual.length ||
        shown.some((line, i) => {
          let pattern = expand(line);
          for (const vary of step.vary ?? []) pattern = pattern.replace(new RegExp(vary.source, vary.flags.includes('g') ? vary.flags : `${vary.flags}g`), WILDCARD);
          pattern = escapeRegExp(pattern.replaceAll('…', WILDCARD)).replaceAll(WILDCARD, '.*');
          return !new RegExp(`^${pattern}$`).test(actual[i]!.trimEnd());
        });
      if (mismatch) problems.push(`${block.file}:${block.line}: \`${command}\`\n  shown:\n    ${shown.join('\n    ')}\n  printed:\n    ${actual.join('\n    ')}`);
    });
  }
  return problems;
}
