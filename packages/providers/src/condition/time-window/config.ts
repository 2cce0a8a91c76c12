/**
 * Configuration of the `time-window` condition: its schema, and the pure `parseTimeWindow`
 * step shared by the `validate` hook (admin writes) and `evaluate` (SPIRE's buildConfig).
 */
import { Type, type Static } from 'typebox';

export const TIME_WINDOW_TYPE = 'time-window';

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** 24-hour `HH:MM`, 00:00 to 23:59. */
const TIME_PATTERN = '^(?:[01][0-9]|2[0-3]):[0-5][0-9]$';
const TIME_REGEXP = new RegExp(TIME_PATTERN);

export const timeWindowConfigSchema = Type.Object(
  {
    timeZone: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, default: 'UTC', description: 'IANA time zone, e.g. Europe/Paris.' }),
    ),
    days: Type.Optional(
      Type.Array(Type.Enum(WEEKDAYS), {
        minItems: 1,
        maxItems: 7,
        uniqueItems: true,
        default: [...WEEKDAYS],
        description: 'Days on which the window opens; for a window crossing midnight, the day it starts.',
      }),
    ),
    start: Type.String({ pattern: TIME_PATTERN, description: 'Start of the window, HH:MM (inclusive).' }),
    end: Type.String({
      pattern: TIME_PATTERN,
      description: 'End of the window, HH:MM (exclusive); earlier than start: crosses midnight; equal: 24 hours.',
    }),
  },
  { additionalProperties: false },
);

export type TimeWindowConfig = Static<typeof timeWindowConfigSchema>;

export interface ParsedTimeWindow {
  /** Canonical zone name as resolved by Intl. */
  timeZone: string;
  days: ReadonlySet<Weekday>;
  /** Minutes since local midnight. */
  start: number;
  end: number;
  /** `Mon–Fri 09:00–17:00 Europe/Paris`, for reasons. */
  label: string;
  formatter: Intl.DateTimeFormat;
}

/** Cached per zone spelling; bounded, since spellings (case variants) come from admin input. */
const formatters = new Map<string, Intl.DateTimeFormat>();
const MAX_FORMATTERS = 1000;

/** A formatter giving weekday, hour and minute in `timeZone`; throws RangeError on an unknown zone. */
function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    if (formatters.size >= MAX_FORMATTERS) formatters.clear();
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

function parseTime(value: unknown): number | undefined {
  if (typeof value !== 'string' || !TIME_REGEXP.test(value)) return undefined;
  return Number(value.slice(0, 2)) * 60 + Number(value.slice(3, 5));
}

function formatDays(days: ReadonlySet<Weekday>): string {
  const name = (day: Weekday) => day.charAt(0).toUpperCase() + day.slice(1);
  if (days.size === WEEKDAYS.length) return 'every day';
  const present = WEEKDAYS.map((day) => days.has(day));
  // A single cyclic run of three days or more reads as a range: Mon–Fri, Sat–Mon.
  const runStarts = WEEKDAYS.flatMap((_, i) => (present[i] && !present[(i + 6) % 7] ? [i] : []));
  const first = runStarts[0];
  if (runStarts.length === 1 && first !== undefined && days.size >= 3) {
    return `${name(WEEKDAYS[first] as Weekday)}–${name(WEEKDAYS[(first + days.size - 1) % 7] as Weekday)}`;
  }
  return WEEKDAYS.filter((day) => days.has(day)).map(name).join(', ');
}

/** Parses a config into what `evaluate` needs, or the list of problems found. */
export function parseTimeWindow(config: TimeWindowConfig): { window: ParsedTimeWindow } | { issues: string[] } {
  const issues: string[] = [];
  const zone = config.timeZone ?? 'UTC';
  let formatter: Intl.DateTimeFormat | undefined;
  try {
    formatter = formatterFor(zone);
  } catch {
    issues.push(`timeZone ${JSON.stringify(String(zone).slice(0, 64))} is not a known IANA time zone`);
  }
  const start = parseTime(config.start);
  const end = parseTime(config.end);
  if (start === undefined) issues.push('start must be a 24-hour time HH:MM between 00:00 and 23:59');
  if (end === undefined) issues.push('end must be a 24-hour time HH:MM between 00:00 and 23:59');
  const dayList: unknown[] = config.days ?? [...WEEKDAYS];
  if (!Array.isArray(dayList) || dayList.length === 0 || !dayList.every((d) => (WEEKDAYS as readonly unknown[]).includes(d))) {
    issues.push(`days must be a non-empty list of ${WEEKDAYS.join(', ')}`);
  }
  if (formatter === undefined || start === undefined || end === undefined || issues.length > 0) return { issues };
  const days = new Set(dayList as Weekday[]);
  const timeZone = formatter.resolvedOptions().timeZone;
  const label = `${formatDays(days)} ${config.start}–${config.end} ${timeZone}`;
  return { window: { timeZone, days, start, end, label, formatter } };
}
