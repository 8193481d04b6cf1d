import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { httpDate, httpDateBuffer } from './date.ts';
import { formatHttpDate } from './semantics/http-date.ts';
import { statusLine, statusText } from './status.ts';

describe('date', () => {
  it('formats IMF-fixdate (RFC 9110 §5.6.7)', () => {
    assert.equal(formatHttpDate(Date.UTC(1994, 10, 6, 8, 49, 37)), 'Sun, 06 Nov 1994 08:49:37 GMT');
    assert.equal(formatHttpDate(Date.UTC(2026, 0, 1, 0, 0, 0, 999)), 'Thu, 01 Jan 2026 00:00:00 GMT');
  });

  it('caches per second and changes when the second does', () => {
    mock.timers.enable({ apis: ['Date'], now: Date.UTC(2030, 4, 5, 6, 7, 8, 100) });
    try {
      const first = httpDate();
      assert.equal(first, 'Sun, 05 May 2030 06:07:08 GMT');
      const buf = httpDateBuffer();
      assert.equal(buf.length, 29);
      assert.equal(buf.toString('latin1'), first);
      mock.timers.tick(899);
      assert.equal(httpDate(), first, 'same second: same string');
      assert.equal(httpDateBuffer(), buf, 'same second: same Buffer object');
      mock.timers.tick(1);
      assert.equal(httpDate(), 'Sun, 05 May 2030 06:07:09 GMT');
      assert.equal(httpDateBuffer().toString('latin1'), 'Sun, 05 May 2030 06:07:09 GMT');
      assert.equal(buf.toString('latin1'), first, 'an old Buffer is never rewritten');
      mock.timers.setTime(Date.UTC(2020, 0, 1));
      assert.equal(httpDate(), 'Wed, 01 Jan 2020 00:00:00 GMT', 'a clock set backwards is followed');
    } finally {
      mock.timers.reset();
    }
  });
});

describe('status', () => {
  it('knows the registered reason phrases and builds status lines', () => {
    assert.equal(statusText(200), 'OK');
    assert.equal(statusText(413), 'Content Too Large');
    assert.equal(statusText(599), '');
    assert.equal(statusLine(404), 'HTTP/1.1 404 Not Found\r\n');
    assert.equal(statusLine(599), 'HTTP/1.1 599 \r\n');
  });
});
