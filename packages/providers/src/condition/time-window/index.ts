export {
  type ParsedTimeWindow,
  TIME_WINDOW_TYPE,
  type TimeWindowConfig,
  WEEKDAYS,
  type Weekday,
  parseTimeWindow,
  timeWindowConfigSchema,
} from './config.js';
export { isInsideWindow, timeWindowCondition } from './time-window.js';
