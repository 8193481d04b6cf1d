/**
 * HTTP-dates (RFC 9110 §5.6.7). Parsing is strict: `Date.parse` would accept "1" or "2024" and turn a garbage
 * `If-Modified-Since` into a real comparison. All three historical formats are accepted, as the RFC asks of
 * recipients; anything else is `undefined` and the header using it is ignored.
 */

const MONTHS: Record<string, number> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
};

/** IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`. */
const IMF_FIXDATE =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) ([A-Z][a-z]{2}) (\d{4}) (\d\d):(\d\d):(\d\d) GMT$/;
/** Obsolete RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`. */
const RFC850 =
  /^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d\d)-([A-Z][a-z]{2})-(\d\d) (\d\d):(\d\d):(\d\d) GMT$/;
/** Obsolete asctime: `Sun Nov  6 08:49:37 1994`. */
const ASCTIME = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\d{4})$/;

let lastText = '';
let lastValue: number | undefined;

function build(
  year: number,
  month: string,
  day: string,
  h: string,
  m: string,
  s: string,
): number | undefined {
  const mon = MONTHS[month];
  if (mon === undefined) return undefined;
  const d = Number(day);
  const hh = Number(h);
  const mm = Number(m);
  const ss = Number(s);
  if (d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60) return undefined;
  return Date.UTC(year, mon, d, hh, mm, ss);
}

/**
 * Parses an HTTP-date into epoch milliseconds, or `undefined` when it is not one. The last input is
 * remembered: clients revalidating one resource send the same date again and again.
 */
export function parseHttpDate(text: string): number | undefined {
  if (text === lastText) return lastValue;
  let value: number | undefined;
  let match = IMF_FIXDATE.exec(text);
  if (match) {
    value = build(Number(match[3]), match[2]!, match[1]!, match[4]!, match[5]!, match[6]!);
  } else if ((match = RFC850.exec(text))) {
    // RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is in the past century.
    let year = 2000 + Number(match[3]);
    if (year > new Date().getUTCFullYear() + 50) year -= 100;
    value = build(year, match[2]!, match[1]!, match[4]!, match[5]!, match[6]!);
  } else if ((match = ASCTIME.exec(text))) {
    value = build(Number(match[6]), match[1]!, match[2]!.trim(), match[3]!, match[4]!, match[5]!);
  }
  lastText = text;
  lastValue = value;
  return value;
}

/**
 * Format a time as an IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
 * `Date.prototype.toUTCString` produces exactly this form for years 1000–9999.
 */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString();
}
