/**
 * A producer's record turned into what the shared store keeps: the head serialised once, exactly as
 * `CacheEntry` lays it out (so a shared hit is byte-identical to a local one and to the uncached answer,
 * except `Date`), with the offset of its Date slot.
 */
import { httpDateBuffer } from '../../http/date.ts';
import { serializeHead } from '../../http/semantics/head.ts';
import { type EntryRecord, fieldValue } from '../entry.ts';
import type { SharedInput } from './owner.ts';

/**
 * @param checkAt when the file is next compared with disk
 * @param keepDate the fields carry their own Date (no Date slot) @default false
 * @param marks `routed` and the configuration `stamp` (see `SharedMeta`) @default not routed, stamp 0
 */
export function toSharedInput(
  record: EntryRecord,
  checkAt: number,
  keepDate = false,
  marks: { readonly routed: boolean; readonly stamp: number } = { routed: false, stamp: 0 },
): SharedInput {
  const { text, dateOffset } = serializeHead(
    record.status,
    record.reason,
    record.fields,
    record.body.length,
    null,
    keepDate ? null : httpDateBuffer().toString('latin1'),
  );
  const lastModified = fieldValue(record.fields, 'last-modified');
  const parsed = lastModified === undefined ? Number.NaN : Date.parse(lastModified);
  return {
    key: record.key,
    path: record.path,
    host: record.host,
    status: record.status,
    reason: record.reason,
    fields: record.fields.map(([name, value]) => [name, value] as const),
    file: record.file
      ? { path: record.file.path, size: record.file.size, mtimeMs: record.file.mtimeMs, ino: record.file.ino }
      : null,
    storedAt: record.storedAt,
    expiresAt: record.expiresAt,
    checkAt,
    lastModifiedMs: record.file ? record.file.mtimeMs : parsed,
    head: text,
    dateOffset,
    body: record.body,
    routed: marks.routed,
    stamp: marks.stamp,
    ...(record.group === undefined ? {} : { group: record.group }),
    ...(record.tags === undefined ? {} : { tags: [...record.tags] }),
    ...(record.extra === undefined ? {} : { extra: record.extra }),
  };
}
