/**
 * `time-window` access condition: passes when the request time, read on the wall clock of
 * an IANA time zone, falls inside a daily window on allowed days.
 *
 * The window is [start, end). When `end` is earlier than `start` the window crosses
 * midnight (22:00–06:00) and the day check applies to the day the window started: with
 * `days: ['fri']`, Saturday 03:00 is inside. `start === end` is a full 24-hour window.
 * Local time comes from `Intl.DateTimeFormat` in the zone, so DST is handled: on a
 * spring-forward day the skipped wall times never occur, on a fall-back day the repeated
 * hour is inside the window both times.
 */
import type { ConditionContext, ConditionResult } from '../../contracts.js';
import { defineAccessCondition } from '../../define.js';
import { ConditionError } from '../../errors.js';
import { type ParsedTimeWindow, type Weekday, TIME_WINDOW_TYPE, WEEKDAYS, parseTimeWindow, timeWindowConfigSchema } from './config.js';

interface LocalTime {
  day: Weekday;
  /** Minutes since local midnight. */
  minutes: number;
}

function localTime(formatter: Intl.DateTimeFormat, instant: Date): LocalTime {
  let weekday = '';
  let hour = Number.NaN;
  let minute = Number.NaN;
  for (const part of formatter.formatToParts(instant)) {
    if (part.type === 'weekday') weekday = part.value.toLowerCase();
    else if (part.type === 'hour') hour = Number(part.value);
    else if (part.type === 'minute') minute = Number(part.value);
  }
  const day = WEEKDAYS.find((d) => d === weekday);
  if (day === undefined || !Number.isInteger(hour) || !Number.isInteger(minute)) {
    throw new ConditionError('condition_error', 'could not read the local time in the configured time zone', {
      provider: TIME_WINDOW_TYPE,
    });
  }
  return { day, minutes: (hour % 24) * 60 + minute };
}

function previousDay(day: Weekday): Weekday {
  return WEEKDAYS[(WEEKDAYS.indexOf(day) + 6) % 7] as Weekday;
}

/** Whether `now` is inside the window; pure, exported for tests and previews. */
export function isInsideWindow(window: ParsedTimeWindow, now: Date): boolean {
  const { day, minutes } = localTime(window.formatter, now);
  if (window.start < window.end) {
    return window.days.has(day) && minutes >= window.start && minutes < window.end;
  }
  // Crosses midnight (or lasts 24 hours): the evening part belongs to today's window,
  // the early-morning part to the window that opened yesterday.
  if (minutes >= window.start) return window.days.has(day);
  if (minutes < window.end) return window.days.has(previousDay(day));
  return false;
}

export const timeWindowCondition = defineAccessCondition({
  specificationVersion: 'v1',
  type: TIME_WINDOW_TYPE,
  configSchema: timeWindowConfigSchema,
  validate(config) {
    const parsed = parseTimeWindow(config);
    return 'issues' in parsed ? parsed.issues : [];
  },
  async evaluate(ctx: ConditionContext, config): Promise<ConditionResult> {
    const parsed = parseTimeWindow(config);
    if ('issues' in parsed) {
      // Fail closed: an unusable config is an error, never a pass.
      throw new ConditionError('invalid_config', parsed.issues.join('; '), { provider: TIME_WINDOW_TYPE });
    }
    if (!(ctx.now instanceof Date) || Number.isNaN(ctx.now.getTime())) {
      throw new ConditionError('condition_error', 'the request time is not a valid date', { provider: TIME_WINDOW_TYPE });
    }
    const { window } = parsed;
    return isInsideWindow(window, ctx.now)
      ? { passed: true, reason: `inside the allowed window ${window.label}` }
      : { passed: false, reason: `outside the allowed window ${window.label}` };
  },
});
