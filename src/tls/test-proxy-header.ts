/** PROXY protocol v2 headers for tests. */

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A v2 header: command (0 LOCAL, 1 PROXY), family/transport byte, address block, TLV bytes. */
export function v2(
  command: number,
  familyTransport: number,
  addresses: Buffer,
  tlvs = Buffer.alloc(0),
): Buffer {
  const fixed = Buffer.alloc(4);
  fixed[0] = 0x20 | command;
  fixed[1] = familyTransport;
  fixed.writeUInt16BE(addresses.length + tlvs.length, 2);
  return Buffer.concat([SIG, fixed, addresses, tlvs]);
}

/** The v2 address block of TCP over IPv4. */
export function inet(src: string, dst: string, sport: number, dport: number): Buffer {
  const b = Buffer.alloc(12);
  src.split('.').forEach((n, i) => {
    b[i] = Number(n);
  });
  dst.split('.').forEach((n, i) => {
    b[4 + i] = Number(n);
  });
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(dport, 10);
  return b;
}
