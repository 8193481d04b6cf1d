/** Address lists for the plugins' config; they live with the host, whose listeners use them too. */
export { AddressList, cidr, plainAddress } from '../../server/cidr.ts';
