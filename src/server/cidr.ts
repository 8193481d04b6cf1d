/**
 * Address lists from config (`"10.0.0.0/8"`, `"2001:db8::/32"`, a bare address), checked at start-up and
 * matched with node's `BlockList`. IPv4-mapped IPv6 peers (`::ffff:10.1.2.3`, what a dual-stack listener
 * reports) are matched as the IPv4 address they carry.
 */
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';

/** `address` or `address/prefix`, IPv4 or IPv6. */
export const cidr = z.string().superRefine((text, ctx) => {
  if (parseCidr(text) === null)
    ctx.addIssue({
      code: 'custom',
      message: 'expected an IP address or CIDR such as "10.0.0.0/8" or "::1/128"',
    });
});

function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | null {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return null;
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const digits = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(digits)) return null;
    prefix = Number(digits);
    if (prefix > max) return null;
  }
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** An address without IPv4-mapping (`::ffff:1.2.3.4` → `1.2.3.4`); '' when not an IP address. */
export function plainAddress(address: string): string {
  if (address.startsWith('::ffff:') && isIP(address.slice(7)) === 4) return address.slice(7);
  return isIP(address) === 0 ? '' : address;
}

/** A compiled list of networks. */
export class AddressList {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const parsed = parseCidr(entry);
      if (parsed === null) throw new Error(`not an IP address or CIDR: "${entry}"`);
      this.list.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
    this.size = entries.length;
  }

  /** Whether `address` (any spelling the socket reports) is in the list; false for a non-address. */
  has(address: string): boolean {
    const plain = plainAddress(address);
    if (plain === '') return false;
    return this.list.check(plain, isIP(plain) === 4 ? 'ipv4' : 'ipv6');
  }
}
