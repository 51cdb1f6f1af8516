import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

export interface TargetRules {
  allowLoopback: boolean;
  allowPrivateNetworks: boolean;
}

type AddressClass = 'public' | 'loopback' | 'private' | 'link-local' | 'metadata' | 'reserved';

interface RangeList {
  v4: BlockList;
  v6: BlockList;
}

// One list per family: BlockList treats IPv4 as IPv4-mapped IPv6, so mixing them would blur the two.
function ranges(v4: string[], v6: string[]): RangeList {
  const lists = { v4: new BlockList(), v6: new BlockList() };
  for (const cidr of v4) {
    const [network, prefix] = cidr.split('/');
    lists.v4.addSubnet(network!, Number(prefix), 'ipv4');
  }
  for (const cidr of v6) {
    const [network, prefix] = cidr.split('/');
    lists.v6.addSubnet(network!, Number(prefix), 'ipv6');
  }
  return lists;
}

const loopback = ranges(['127.0.0.0/8'], ['::1/128']);
const privateRanges = ranges(
  ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'],
  ['fc00::/7'],
);
const linkLocal = ranges(['169.254.0.0/16'], ['fe80::/10']);
// Cloud instance metadata and agent services (credentials, user data): never a receiver, even where
// private and link-local targets are allowed. AWS (with its ECS task and EKS Pod Identity endpoints,
// and their IPv6 addresses), GCP and Azure share 169.254.169.254; Alibaba uses 100.100.100.200; Azure's
// WireServer, 168.63.129.16, lies in public space, so it is refused by address here.
const metadataServices = ranges(
  ['169.254.169.254/32', '169.254.170.2/32', '169.254.170.23/32', '100.100.100.200/32', '168.63.129.16/32'],
  ['fd00:ec2::254/128', 'fd00:ec2::23/128'],
);
// Never a webhook receiver: unspecified, multicast, broadcast and reserved space, plus IPv4 embedded in
// IPv6 (IPv4-compatible, mapped, NAT64 and its local-use prefix, 6to4), which would otherwise smuggle a
// private IPv4 address past the checks above, and the deprecated site-local prefix.
const reserved = ranges(
  ['0.0.0.0/8', '192.0.0.0/24', '198.18.0.0/15', '224.0.0.0/4', '240.0.0.0/4'],
  ['::/96', '::ffff:0:0/96', '64:ff9b::/96', '64:ff9b:1::/48', '2002::/16', 'fec0::/10', 'ff00::/8'],
);

function classify(address: string): AddressClass {
  const v6 = isIP(address) === 6;
  const inRange = (list: RangeList) => (v6 ? list.v6.check(address, 'ipv6') : list.v4.check(address, 'ipv4'));
  // Loopback first: ::1 also lies in the IPv4-compatible ::/96 that `reserved` refuses.
  if (inRange(loopback)) return 'loopback';
  if (inRange(reserved)) return 'reserved';
  if (inRange(metadataServices)) return 'metadata';
  if (inRange(linkLocal)) return 'link-local';
  if (inRange(privateRanges)) return 'private';
  return 'public';
}

/** A target the rules do not allow; `errorClass` is what the attempt records. */
export class TargetRefusedError extends Error {
  override name = 'TargetRefusedError';
  constructor(
    message: string,
    readonly errorClass: 'target_refused' | 'dns_failure' = 'target_refused',
  ) {
    super(message);
  }
}

function refusal(addressClass: AddressClass, rules: TargetRules): string | undefined {
  if (addressClass === 'public') return undefined;
  if (addressClass === 'loopback') return rules.allowLoopback ? undefined : 'resolves to loopback';
  if (addressClass === 'reserved') return 'resolves to a reserved address';
  if (addressClass === 'metadata') return 'resolves to a cloud metadata service';
  return rules.allowPrivateNetworks ? undefined : `resolves to a ${addressClass} address`;
}

function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/**
 * Checks what can be checked without DNS (scheme, literal addresses), so a subscription that can never
 * be delivered stops the start instead of filling the dead letters.
 */
export function staticTargetProblem(url: URL, rules: TargetRules): string | undefined {
  const host = hostOf(url);
  if (url.protocol === 'http:') {
    if (!rules.allowLoopback)
      return 'only https targets are allowed (plain http needs WEBHOOK_ALLOW_LOOPBACK)';
    const isLoopbackHost = host === 'localhost' || (isIP(host) !== 0 && classify(host) === 'loopback');
    if (!isLoopbackHost) return 'plain http is allowed only to loopback targets';
  } else if (url.protocol !== 'https:') {
    return 'only https targets are allowed';
  }
  return isIP(host) !== 0 ? refusal(classify(host), rules) : undefined;
}

export interface ResolvedTarget {
  address: string;
  family: 4 | 6;
}

/**
 * Resolves the target and checks every address it resolves to; the request then connects to the
 * checked address itself, so a DNS answer that changes in between (rebinding) cannot redirect it.
 */
export async function resolveTarget(url: URL, rules: TargetRules): Promise<ResolvedTarget> {
  const problem = staticTargetProblem(url, rules);
  if (problem) throw new TargetRefusedError(problem);
  const host = hostOf(url);
  let addresses: { address: string; family: number }[];
  if (isIP(host) !== 0) {
    addresses = [{ address: host, family: isIP(host) }];
  } else {
    try {
      addresses = await lookup(host, { all: true, verbatim: true });
    } catch {
      throw new TargetRefusedError('the target host does not resolve', 'dns_failure');
    }
  }
  if (addresses.length === 0) throw new TargetRefusedError('the target host does not resolve', 'dns_failure');
  for (const { address } of addresses) {
    const reason = refusal(classify(address), rules);
    if (reason) throw new TargetRefusedError(`the target ${reason}`);
    if (url.protocol === 'http:' && classify(address) !== 'loopback') {
      throw new TargetRefusedError('plain http is allowed only to loopback targets');
    }
  }
  const first = addresses[0]!;
  return { address: first.address, family: first.family === 6 ? 6 : 4 };
}
