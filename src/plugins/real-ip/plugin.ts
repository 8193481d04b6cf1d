/**
 * `real_ip`: behind a load balancer or CDN, the client's address is the one the trusted proxy forwarded
 * (nginx `set_real_ip_from` + `real_ip_header` + `real_ip_recursive on`, Caddy `trusted_proxies`).
 *
 * Only when the connection's peer is in `trusted` is the header believed, and then read from the right:
 * every hop that is itself trusted is skipped, and the first untrusted address is the client (the
 * leftmost entries are whatever the client wrote, so they are never taken while a later one is
 * untrusted). An entry that is not an IP address stops the walk at the hop that reported it. Logs,
 * `hash-ip` balancing and the `access` rules then see `req.clientAddress`.
 */
import { z } from 'zod';
import { definePlugin, type Plugin } from '../../server/plugin.ts';
import { AddressList, cidr, plainAddress } from '../shared/cidr.ts';
import { fieldName } from '../shared/match.ts';

/** `[real_ip]` options. */
export const realIpOptions = z.strictObject({
  /** Proxies whose forwarding header is believed: addresses or CIDRs. @default [] (off) */
  trusted: z.array(cidr).default([]),
  /** The header naming the client: `X-Forwarded-For` (a list) or e.g. `X-Real-IP`. @default "X-Forwarded-For" */
  header: fieldName.default('X-Forwarded-For'),
});

/** The client address from a forwarding header's entries, walking right to left past trusted hops. */
export function clientFrom(values: readonly string[], peer: string, trusted: AddressList): string {
  let client = peer;
  for (let v = values.length - 1; v >= 0; v--) {
    const parts = values[v]!.split(',');
    for (let i = parts.length - 1; i >= 0; i--) {
      const address = plainAddress(stripPort(parts[i]!.trim()));
      if (address === '') return client;
      client = address;
      if (!trusted.has(address)) return client;
    }
  }
  return client;
}

/** `1.2.3.4:5678` → `1.2.3.4`, `[2001:db8::1]:443` → `2001:db8::1` (some balancers add the port). */
function stripPort(entry: string): string {
  if (entry.startsWith('[')) {
    const end = entry.indexOf(']');
    return end === -1 ? entry : entry.slice(1, end);
  }
  const colon = entry.indexOf(':');
  return colon !== -1 && colon === entry.lastIndexOf(':') ? entry.slice(0, colon) : entry;
}

/** The `real_ip` plugin definition (`[real_ip]`). */
export const realIpPlugin = definePlugin({
  name: 'real_ip',
  options: realIpOptions,
  create(options): Plugin {
    if (options.trusted.length === 0) return { name: 'real_ip' };
    const trusted = new AddressList(options.trusted);
    const header = options.header.toLowerCase();
    return {
      name: 'real_ip',
      onRequest(req) {
        const peer = req.connection.remoteAddress;
        if (!trusted.has(peer)) return false;
        const values = req.headers.getAll(header);
        if (values.length > 0) req.setClientAddress?.(clientFrom(values, plainAddress(peer), trusted));
        return false;
      },
    };
  },
});
