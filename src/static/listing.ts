/**
 * Directory listings (off by default): a plain HTML page of a directory's entries. Every name is
 * HTML-escaped in the text and percent-encoded in the link, so a file called `<script>` or `a"b` is shown,
 * not run.
 */
import { type Dirent, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function formatSize(bytes: number): string {
  if (bytes < 1024) return bytes + ' B';
  if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + ' KiB';
  return (bytes / (1024 * 1024)).toFixed(1) + ' MiB';
}

/**
 * Renders the listing of `directory` (an absolute path under a root).
 * @param urlPath the decoded request path of the directory, ending in `/`, shown as the title
 * @param showHidden whether names starting with `.` are listed (the dotfile policy)
 */
export function renderListing(directory: string, urlPath: string, showHidden: boolean): string {
  const entries: Dirent[] = readdirSync(directory, { withFileTypes: true });
  const rows: string[] = [];
  if (urlPath !== '/') rows.push('<tr><td><a href="../">../</a></td><td></td><td></td></tr>');
  const visible = entries
    .filter((entry) => showHidden || entry.name.charCodeAt(0) !== 0x2e)
    .map((entry) => {
      let isDir = entry.isDirectory();
      let size = -1;
      let mtime = '';
      try {
        const stats = statSync(join(directory, entry.name));
        isDir = stats.isDirectory();
        size = isDir ? -1 : stats.size;
        mtime = stats.mtime.toISOString().slice(0, 16).replace('T', ' ');
      } catch {
        // A dangling link or a file deleted meanwhile: list the name only.
      }
      return { name: entry.name, isDir, size, mtime };
    })
    .sort((a, b) => (a.isDir === b.isDir ? a.name.localeCompare(b.name) : a.isDir ? -1 : 1));
  for (const entry of visible) {
    const slash = entry.isDir ? '/' : '';
    const href = encodeURIComponent(entry.name) + slash;
    rows.push(
      `<tr><td><a href="./${escapeHtml(href)}">${escapeHtml(entry.name)}${slash}</a></td>` +
        `<td>${entry.size < 0 ? '' : formatSize(entry.size)}</td><td>${entry.mtime}</td></tr>`,
    );
  }
  const title = escapeHtml(urlPath);
  return (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>Index of ${title}</title>` +
    '<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:50rem;padding:0 1rem}' +
    'td{padding:.15rem 1.5rem .15rem 0}td:nth-child(2){text-align:right}</style></head>\n' +
    `<body><h1>Index of ${title}</h1>\n<table>\n${rows.join('\n')}\n</table></body></html>\n`
  );
}
