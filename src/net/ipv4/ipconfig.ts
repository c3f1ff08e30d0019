/*
 * IP-Config: configuring IPv4 at boot from the kernel command line (Linux's net/ipv4/ipconfig.c).
 *
 *   ip=<client-ip>:<server-ip>:<gw-ip>:<netmask>:<hostname>:<device>:<autoconf>:<dns0-ip>:<dns1-ip>:<ntp0-ip>
 *
 * or just one autoconf word: `ip=dhcp` (also `dhcp,<type>,<client-id>`), `ip=bootp`, `ip=on` /
 * `ip=any` (DHCP here: this kernel has no RARP), `ip=both` (BOOTP), `ip=off` / `ip=none` / `ip=`
 * (disabled). Empty fields stay unknown. `nfsaddrs=` is the old name of the same parameter.
 *
 * ipConfigSetup() is the parameter handler (__setup("ip=")): it only records. ipAutoConfig() is
 * Linux's late initcall ip_auto_config, run once at boot after the devices handed to boot()
 * exist and the kernel worker runs (received frames are processed there):
 *
 *  1. wait up to 12 s for a candidate device (not loopback; the named one if <device> is given,
 *     else any broadcast or point-to-point device not called dummy*);
 *  2. open loopback, then every candidate (remembering who was down, to put it back), and wait
 *     up to 120 s for carrier on one of them;
 *  3. with no address, or several candidates, ask: DHCP DISCOVER on each device in turn, wait
 *     2-3 s (growing 7/4 each round, at most 30 s) for an answer, six rounds; an OFFER is
 *     answered at once with a REQUEST naming the server and the offered address; the ACK ends it.
 *     If all that fails the devices are closed and reopened once, then it gives up ("IP-Config:
 *     Auto-configuration of network failed") and the boot goes on unconfigured;
 *  4. fill in defaults (hostname = the address, netmask by address class), print the
 *     "IP-Config: Complete:" block, set the address, netmask and broadcast on the chosen device and
 *     the default route through the gateway — the same namespace operations SIOCSIFADDR and
 *     SIOCADDRT reach — and put back down the devices it opened and did not choose.
 *
 * Requests are built below the socket layer, as Linux's are: before it has an address the client
 * must send from 0.0.0.0:68 to 255.255.255.255:67, which no socket may do. The IP and UDP headers
 * are written here (DF, TTL 64, no UDP checksum: RFC 1542 allows none) and the frame is handed to
 * the device with a broadcast link header. Replies are taken by a packet handler placed in front
 * of ip_rcv for ETH_P_IP while the exchange runs (Linux's dev_add_pack(&bootp_packet_type)), so
 * they are seen whether the server broadcasts them or unicasts them to the offered address the
 * stack does not own yet; ip_rcv still gets every frame after it. Like Linux's client this one
 * does not set the broadcast flag, and it keeps no lease: the address stays until changed.
 *
 * What was learnt is shown in /proc/net/pnp (procNetPnp): "#PROTO: DHCP" or "#MANUAL", the
 * domain, up to three "nameserver" lines and the boot server, for an initrd to copy to
 * /etc/resolv.conf.
 */
import { WaitQueue } from '../../lib/waitqueue.js';
import {
  ETH_P_IP, IPPROTO_UDP, IP_DF, IP_MF, IP_OFFSET, INADDR_BROADCAST, inetChecksum, inetMakeMask,
  ipv4ToString, macToString, macEqual, writeIpv4Header,
} from '../header/index.js';
import {
  IFF_LOOPBACK, IFF_BROADCAST, IFF_POINTOPOINT, IFF_NOARP, PACKET_OTHERHOST, RTPROT_BOOT,
  type NetDevice, type NetNamespace, type PacketHandler, type SkBuff,
} from '../core/index.js';
import {
  BOOTP_REQUEST, BOOTP_REPLY, BOOTP_FIXED_LEN, BOOTP_CLIENT_PORT, BOOTP_SERVER_PORT, DHCPDISCOVER,
  DHCPREQUEST, DHCPOFFER, DHCPACK, DHO_MESSAGE_TYPE, DHO_SERVER_IDENTIFIER, DHO_REQUESTED_ADDRESS,
  DHO_PARAMETER_REQUEST_LIST, DHO_HOST_NAME, DHO_VENDOR_CLASS_ID, DHO_CLIENT_ID, DHO_SUBNET_MASK,
  DHO_ROUTERS, DHO_DOMAIN_NAME_SERVERS, DHO_DOMAIN_NAME, DHO_ROOT_PATH, DHO_INTERFACE_MTU,
  DHO_NIS_DOMAIN, DHO_NTP_SERVERS, DHO_NAME_SERVERS, DHO_MAX_MESSAGE_SIZE, encodeBootp, parseBootp,
  addrOption, type BootpMessage, type DhcpOption,
} from './dhcp.js';

const KERN_ERR = 3, KERN_WARNING = 4, KERN_NOTICE = 5, KERN_INFO = 6;

/** INADDR_NONE: "not known" for every address below. */
export const NONE = 0xffffffff;

// Protocol bits (include/net/ipconfig.h).
export const IC_BOOTP = 0x01;
export const IC_RARP = 0x02;
export const IC_PROTO = 0xff;
export const IC_USE_DHCP = 0x100;

const CONF_NAMESERVERS_MAX = 3;
const CONF_NTP_SERVERS_MAX = 3;
/** The parameters asked for in every DHCP request (option 55). */
const REQ_PARAMS = [DHO_SUBNET_MASK, DHO_ROUTERS, DHO_DOMAIN_NAME_SERVERS, DHO_HOST_NAME, DHO_DOMAIN_NAME,
  DHO_ROOT_PATH, DHO_INTERFACE_MTU, DHO_NIS_DOMAIN, DHO_NTP_SERVERS];
/** Smallest MTU that carries a 576-byte BOOTP datagram's worth of request (Linux's check). */
const BOOTP_MIN_MTU = 364;

/** Timing, in milliseconds; Linux's values by default (tests shorten them). */
export interface IpConfigTimings {
  /** wait_for_devices: how long to wait for a candidate device to appear (12 s). */
  deviceWaitMs: number;
  /** CONF_CARRIER_TIMEOUT: how long to wait for carrier (120 s). */
  carrierTimeoutMs: number;
  /** CONF_POST_OPEN: settle time after opening (10 ms). */
  postOpenMs: number;
  /** CONF_BASE_TIMEOUT and CONF_TIMEOUT_RANDOM: first wait is base + random(0, random) (2 s + < 1 s). */
  baseTimeoutMs: number;
  randomTimeoutMs: number;
  /** CONF_TIMEOUT_MAX (30 s). */
  maxTimeoutMs: number;
  /** CONF_SEND_RETRIES (6) rounds per opening, CONF_OPEN_RETRIES (2) openings. */
  sendRetries: number;
  openRetries: number;
}

export const IPCONFIG_TIMINGS: Readonly<IpConfigTimings> = {
  deviceWaitMs: 12_000, carrierTimeoutMs: 120_000, postOpenMs: 10, baseTimeoutMs: 2000, randomTimeoutMs: 1000,
  maxTimeoutMs: 30_000, sendRetries: 6, openRetries: 2,
};

/** The host name fields IP-Config reads and sets (the kernel's utsname). */
export interface IpConfigUts { nodename: string; domainname: string }

/** One opened device (struct ic_device). */
interface IcDevice { dev: NetDevice; wasUp: boolean; able: number; xid: number }

/** Everything ip= said and the exchange learnt; one per namespace. */
export class IpConfigState {
  enable = false;
  protoEnabled = IC_BOOTP | IC_USE_DHCP;
  myaddr = NONE;
  netmask = NONE;
  gateway = NONE;
  servaddr = NONE;
  /** The address the answer came from (ic_addrservaddr). */
  addrservaddr = NONE;
  rootServerAddr = NONE;
  rootPath = '';
  nameservers: number[] = [NONE, NONE, NONE];
  ntpServers: number[] = [NONE, NONE, NONE];
  domain = '';
  hostNameSet = false;
  userDevName = '';
  devMtu = 0;
  vendorClass = '';
  /** Option 61 from ip=dhcp,<type>,<id>: the type byte then the id. */
  clientId: Uint8Array | null = null;
  /** What was used, for /proc/net/pnp (ic_proto_used). */
  protoUsed = 0;
  // The exchange in progress.
  devs: IcDevice[] = [];
  chosen: IcDevice | null = null;
  gotReply = 0;
  dhcpMsgType = 0;
  readonly replyWait = new WaitQueue();
  /** True once an address was configured. */
  done = false;
}

const states = new WeakMap<NetNamespace, IpConfigState>();

export function ipConfigState(net: NetNamespace): IpConfigState {
  let s = states.get(net);
  if (!s) { s = new IpConfigState(); states.set(net, s); }
  return s;
}

/** in_aton: dotted quad, missing parts as zero, anything unparsable as 0.0.0.0. */
function inAton(s: string): number {
  const p = s.split('.');
  let a = 0;
  for (let i = 0; i < 4; i++) {
    const n = parseInt(p[i] ?? '0', 10);
    a = a * 256 + ((Number.isFinite(n) ? n : 0) & 0xff);
  }
  return a >>> 0;
}

/** ic_proto_name: true when `name` selects a protocol (adjusting the enabled set). */
function protoName(st: IpConfigState, name: string): boolean {
  if (name === 'on' || name === 'any') return true;
  if (name === 'off' || name === 'none') return false;
  if (name.startsWith('dhcp')) {
    st.protoEnabled &= ~IC_RARP;
    const i = name.indexOf('dhcp,');
    if (i >= 0) {
      const rest = name.slice(i + 5);
      const comma = rest.indexOf(',');
      if (comma < 0) return true;
      const type = Number(rest.slice(0, comma));
      const id = rest.slice(comma + 1).slice(0, 251);
      const b = new Uint8Array(1 + id.length);
      b[0] = Number.isInteger(type) && type >= 0 && type <= 255 ? type : 0;
      for (let j = 0; j < id.length; j++) b[1 + j] = id.charCodeAt(j) & 0xff;
      st.clientId = id.length ? b : null;
    }
    return true;
  }
  if (name === 'bootp') { st.protoEnabled &= ~(IC_RARP | IC_USE_DHCP); return true; }
  if (name === 'both') { st.protoEnabled &= ~IC_USE_DHCP; return true; }
  return false; // "rarp" too: this kernel is built without RARP
}

/**
 * ip= / nfsaddrs= (ip_auto_config_setup): record the configuration. Always accepted, as in
 * Linux. Fields 4 (hostname[.nisdomain]) set the utsname at once.
 */
export function ipConfigSetup(net: NetNamespace, uts: IpConfigUts, value: string | null): boolean {
  const st = ipConfigState(net);
  const addrs = value ?? '';
  st.enable = true;
  if (protoName(st, addrs)) return true;
  if (addrs === '' || addrs === 'off' || addrs === 'none') { st.enable = false; return true; }
  st.nameservers = [NONE, NONE, NONE];
  const fields = addrs.split(':');
  const addrOrNone = (s: string) => { const a = inAton(s); return a === 0 ? NONE : a; };
  fields.forEach((f, num) => {
    if (f.length === 0) return;
    switch (num) {
      case 0: st.myaddr = addrOrNone(f); break;
      case 1: st.servaddr = addrOrNone(f); break;
      case 2: st.gateway = addrOrNone(f); break;
      case 3: st.netmask = addrOrNone(f); break;
      case 4: {
        const dot = f.indexOf('.');
        if (dot >= 0) { uts.domainname = f.slice(dot + 1).slice(0, 64); f = f.slice(0, dot); }
        uts.nodename = f.slice(0, 64);
        st.hostNameSet = true;
        break;
      }
      case 5: st.userDevName = f.slice(0, 15); break;
      case 6: if (!protoName(st, f) && st.myaddr === NONE) st.enable = false; break;
      case 7: st.nameservers[0] = addrOrNone(f); break;
      case 8: st.nameservers[1] = addrOrNone(f); break;
      case 9: st.ntpServers[0] = addrOrNone(f); break;
      default: break;
    }
  });
  return true;
}

/** dhcpclass= (vendor_class_identifier_setup). */
export function ipConfigVendorClass(net: NetNamespace, value: string | null): boolean {
  ipConfigState(net).vendorClass = (value ?? '').slice(0, 252);
  return true;
}

/** /proc/net/pnp (pnp_seq_show). */
export function procNetPnp(net: NetNamespace): string {
  const st = ipConfigState(net);
  let s = st.protoUsed & IC_PROTO
    ? `#PROTO: ${st.protoUsed & IC_RARP ? 'RARP' : st.protoUsed & IC_USE_DHCP ? 'DHCP' : 'BOOTP'}\n`
    : '#MANUAL\n';
  if (st.domain) s += `domain ${st.domain}\n`;
  for (const a of st.nameservers) if (a !== NONE) s += `nameserver ${ipv4ToString(a)}\n`;
  if (st.servaddr !== NONE) s += `bootserver ${ipv4ToString(st.servaddr)}\n`;
  return s;
}

// ---- devices --------------------------------------------------------------------------------

/** ic_is_init_dev */
function isInitDev(st: IpConfigState, dev: NetDevice): boolean {
  if (dev.flags & IFF_LOOPBACK) return false;
  if (st.userDevName) return dev.name === st.userDevName;
  return (dev.flags & (IFF_POINTOPOINT | IFF_BROADCAST)) !== 0 && !dev.name.startsWith('dummy');
}

function sleepMs(net: NetNamespace, ms: number): Promise<void> {
  return net.k.clock.sleepUntil(net.now() + ms * 1e6);
}

async function waitForDevices(net: NetNamespace, st: IpConfigState, t: IpConfigTimings): Promise<boolean> {
  for (let waited = 0; ; waited += 1000) {
    for (const d of net.devices.values()) if (isInitDev(st, d)) return true;
    if (waited + 1000 > t.deviceWaitMs || net.halted) return false;
    await sleepMs(net, 1000);
  }
}

/** ic_open_devs: false when no device could be opened (printed). */
async function openDevs(net: NetNamespace, st: IpConfigState, t: IpConfigTimings): Promise<boolean> {
  const pr = net.k.printk;
  for (const dev of net.devices.values()) {
    if (!(dev.flags & IFF_LOOPBACK)) continue;
    try { net.devOpen(dev); } catch { pr(KERN_ERR, `IP-Config: Failed to open ${dev.name}`); }
  }
  st.devs = [];
  for (const dev of [...net.devices.values()]) {
    if (!isInitDev(st, dev)) continue;
    let able = 0;
    if (dev.mtu >= BOOTP_MIN_MTU) able |= IC_BOOTP;
    else pr(KERN_WARNING, `DHCP/BOOTP: Ignoring device ${dev.name}, MTU ${dev.mtu} too small`);
    if (!(dev.flags & IFF_NOARP)) able |= IC_RARP;
    able &= st.protoEnabled;
    if (st.protoEnabled && !able) continue;
    const wasUp = dev.isUp;
    try { net.devOpen(dev); } catch { pr(KERN_ERR, `IP-Config: Failed to open ${dev.name}`); continue; }
    st.devs.push({ dev, wasUp, able, xid: able & IC_BOOTP ? net.random32() : 0 });
  }
  if (st.devs.length) {
    // Wait for carrier on one of them, telling the operator every tenth of the timeout.
    const start = net.now();
    let nextMsg = start + (t.carrierTimeoutMs / 12) * 1e6;
    while (net.now() < start + t.carrierTimeoutMs * 1e6 && !net.halted) {
      if ([...net.devices.values()].some((d) => isInitDev(st, d) && d.carrier)) break;
      await sleepMs(net, 1);
      if (net.now() < nextMsg) continue;
      const elapsed = (net.now() - start) / 1e6;
      pr(KERN_INFO, `Waiting up to ${Math.floor((t.carrierTimeoutMs - elapsed + 500) / 1000)} more seconds for network.`);
      nextMsg = net.now() + (t.carrierTimeoutMs / 12) * 1e6;
    }
  }
  if (!st.devs.length) {
    if (st.userDevName) pr(KERN_ERR, `IP-Config: Device \`${st.userDevName}' not found`);
    else pr(KERN_ERR, 'IP-Config: No network devices available');
    return false;
  }
  return true;
}

/** ic_close_devs: devices opened here and not chosen go back down. */
function closeDevs(net: NetNamespace, st: IpConfigState): void {
  for (const d of st.devs) if (d !== st.chosen && !d.wasUp) net.devClose(d.dev);
  st.devs = [];
}

// ---- DHCP/BOOTP exchange ----------------------------------------------------------------------

/** The vendor area of a request: DHCP options (ic_dhcp_init_options) or BOOTP extensions. */
export function requestOptions(st: IpConfigState, uts: IpConfigUts): DhcpOption[] {
  if (!(st.protoEnabled & IC_USE_DHCP)) {
    // RFC 1048 requests: fields of the right size for the server to fill, and a reply size.
    return [
      { code: DHO_SUBNET_MASK, data: new Uint8Array(4) }, { code: DHO_ROUTERS, data: new Uint8Array(4) },
      { code: DHO_NAME_SERVERS, data: new Uint8Array(8) }, { code: DHO_HOST_NAME, data: new Uint8Array(32) },
      { code: DHO_NIS_DOMAIN, data: new Uint8Array(32) }, { code: DHO_ROOT_PATH, data: new Uint8Array(40) },
      { code: DHO_MAX_MESSAGE_SIZE, data: Uint8Array.of(1, 150) },
    ];
  }
  const mt = st.servaddr === NONE ? DHCPDISCOVER : DHCPREQUEST;
  const o: DhcpOption[] = [{ code: DHO_MESSAGE_TYPE, data: Uint8Array.of(mt) }];
  if (mt === DHCPREQUEST) {
    o.push(addrOption(DHO_SERVER_IDENTIFIER, st.servaddr), addrOption(DHO_REQUESTED_ADDRESS, st.myaddr));
  }
  o.push({ code: DHO_PARAMETER_REQUEST_LIST, data: Uint8Array.from(REQ_PARAMS) });
  const str = (s: string) => Uint8Array.from(s.slice(0, 255), (c) => c.charCodeAt(0) & 0xff);
  if (st.hostNameSet && uts.nodename) o.push({ code: DHO_HOST_NAME, data: str(uts.nodename) });
  if (st.vendorClass) o.push({ code: DHO_VENDOR_CLASS_ID, data: str(st.vendorClass) });
  if (st.clientId) o.push({ code: DHO_CLIENT_ID, data: st.clientId });
  return o;
}

/** ic_bootp_send_if: one request out of one device, from 0.0.0.0:68 to 255.255.255.255:67. */
function sendRequest(net: NetNamespace, st: IpConfigState, uts: IpConfigUts, d: IcDevice, secs: number): void {
  const dev = d.dev;
  const bootp = encodeBootp({
    op: BOOTP_REQUEST, htype: dev.type < 256 ? dev.type : 1, hlen: dev.mac.length, xid: d.xid,
    secs: Math.min(secs, 0xffff), chaddr: dev.mac, options: requestOptions(st, uts),
  });
  const udpLen = 8 + bootp.length, totLen = 20 + udpLen;
  const skb = net.allocSkb(totLen);
  const off = skb.put(totLen);
  const b = skb.buf;
  writeIpv4Header(b, off, { totLen, id: 0, fragOff: IP_DF, ttl: 64, protocol: IPPROTO_UDP, saddr: 0, daddr: INADDR_BROADCAST });
  const u = new DataView(b.buffer, b.byteOffset + off + 20, 8);
  u.setUint16(0, BOOTP_CLIENT_PORT); u.setUint16(2, BOOTP_SERVER_PORT); u.setUint16(4, udpLen); u.setUint16(6, 0);
  b.set(bootp, off + 28);
  skb.networkHeader = off;
  skb.dev = dev;
  skb.protocol = ETH_P_IP;
  dev.headerOps?.create(skb, dev, ETH_P_IP, dev.broadcast);
  net.devQueueXmit(skb);
}

/** ic_do_bootp_ext: one option of an answer; fills only what is still unknown. */
function takeOption(st: IpConfigState, uts: IpConfigUts, code: number, v: Uint8Array): void {
  const addr = (i: number) => ((v[i]! << 24) | (v[i + 1]! << 16) | (v[i + 2]! << 8) | v[i + 3]!) >>> 0;
  const str = (max: number) => String.fromCharCode(...v.subarray(0, Math.min(v.length, max - 1)));
  switch (code) {
    case DHO_SUBNET_MASK: if (st.netmask === NONE && v.length >= 4) st.netmask = addr(0); break;
    case DHO_ROUTERS: if (st.gateway === NONE && v.length >= 4) st.gateway = addr(0); break;
    case DHO_DOMAIN_NAME_SERVERS:
      for (let i = 0; i < Math.min(v.length >> 2, CONF_NAMESERVERS_MAX); i++) if (st.nameservers[i] === NONE) st.nameservers[i] = addr(4 * i);
      break;
    case DHO_HOST_NAME: if (v.length) { uts.nodename = str(65); st.hostNameSet = true; } break;
    case DHO_DOMAIN_NAME: if (v.length) st.domain = str(64); break;
    case DHO_ROOT_PATH: if (!st.rootPath && v.length) st.rootPath = str(256); break;
    case DHO_INTERFACE_MTU: if (v.length >= 2) st.devMtu = (v[0]! << 8) | v[1]!; break;
    case DHO_NIS_DOMAIN: if (v.length) uts.domainname = str(65); break;
    case DHO_NTP_SERVERS:
      for (let i = 0; i < Math.min(v.length >> 2, CONF_NTP_SERVERS_MAX); i++) if (st.ntpServers[i] === NONE) st.ntpServers[i] = addr(4 * i);
      break;
    default: break;
  }
}

/**
 * ic_bootp_recv: look at one received IPv4 packet (data at the IP header; the skb is not touched,
 * ip_rcv gets it next). True when it was an answer for us and was taken; anything else is
 * ignored silently, but for a reply with a foreign xid, which is reported as Linux does.
 */
export function bootpRecv(net: NetNamespace, st: IpConfigState, uts: IpConfigUts, skb: SkBuff, dev: NetDevice): boolean {
  if (skb.pktType === PACKET_OTHERHOST) return false;
  const b = skb.buf.subarray(skb.data, skb.tail);
  if (b.length < 28) return false;
  if (b[0] !== 0x45 || b[9] !== IPPROTO_UDP) return false;
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const totLen = dv.getUint16(2);
  if (dv.getUint16(6) & (IP_MF | IP_OFFSET)) { net.k.printk(KERN_ERR, 'DHCP/BOOTP: Ignoring fragmented reply'); return false; }
  if (b.length < totLen || totLen < 28) return false;
  if (inetChecksum(b, 0, 20) !== 0) return false;
  if (dv.getUint16(20) !== BOOTP_SERVER_PORT || dv.getUint16(22) !== BOOTP_CLIENT_PORT) return false;
  const udpLen = dv.getUint16(24);
  if (udpLen < 8 || totLen < udpLen + 20) return false;
  if (udpLen - 8 < BOOTP_FIXED_LEN) return false;
  if (st.gotReply) return false;
  const d = st.devs.find((x) => x.dev === dev);
  if (!d) return false;
  const m = parseBootp(b.subarray(28, 20 + udpLen));
  if (!m) return false;
  if (m.op !== BOOTP_REPLY || m.xid !== d.xid) {
    net.k.printk(KERN_ERR, `DHCP/BOOTP: Reply not for us on ${dev.name}, op[${m.op.toString(16)}] xid[${m.xid.toString(16)}]`);
    return false;
  }
  const saddr = dv.getUint32(12);
  let serverIp = m.siaddr;
  if (m.cookie) {
    if (st.protoEnabled & IC_USE_DHCP) {
      let mt = 0, serverId = NONE;
      for (const o of m.options) {
        if (o.code === DHO_MESSAGE_TYPE && o.data.length) mt = o.data[0]!;
        if (o.code === DHO_SERVER_IDENTIFIER && o.data.length >= 4) {
          serverId = ((o.data[0]! << 24) | (o.data[1]! << 16) | (o.data[2]! << 8) | o.data[3]!) >>> 0;
        }
      }
      switch (mt) {
        case DHCPOFFER:
          // One offer at a time: the first one wins until it is acknowledged or refused.
          if (st.myaddr !== NONE) return false;
          st.myaddr = m.yiaddr;
          st.servaddr = serverId;
          if (serverId !== NONE && serverIp !== serverId) serverIp = serverId;
          break;
        case DHCPACK:
          // chaddr as sent, whatever hlen the server wrote.
          if (!macEqual(dev.mac, b.subarray(28 + 28, 28 + 28 + dev.mac.length))) return false;
          break;
        default:
          // A NAK (or anything else): start again from DISCOVER.
          st.myaddr = NONE;
          st.servaddr = NONE;
          return false;
      }
      st.dhcpMsgType = mt;
    }
    for (const o of m.options) takeOption(st, uts, o.code, o.data);
  }
  st.chosen = d;
  st.myaddr = m.yiaddr;
  st.servaddr = serverIp;
  st.addrservaddr = saddr;
  if (st.gateway === NONE && m.giaddr) st.gateway = m.giaddr;
  if (st.nameservers[0] === NONE) st.nameservers[0] = st.servaddr;
  st.gotReply = IC_BOOTP;
  st.replyWait.wakeAll();
  return true;
}

/** ic_dynamic: ask until answered or out of rounds; the progress line is printed at the end. */
async function dynamic(net: NetNamespace, st: IpConfigState, uts: IpConfigUts, t: IpConfigTimings): Promise<boolean> {
  const pr = net.k.printk;
  const haveIf = st.devs.reduce((a, d) => a | d.able, 0);
  if (!st.protoEnabled) { pr(KERN_ERR, 'IP-Config: Incomplete network configuration information'); return false; }
  if ((st.protoEnabled ^ haveIf) & IC_BOOTP) pr(KERN_ERR, 'DHCP/BOOTP: No suitable device found');
  const doBootp = haveIf & IC_BOOTP;
  if (!doBootp) return false; // no RARP in this kernel; the error is printed
  st.nameservers = st.nameservers.map(() => NONE);

  // A packet handler beside ip_rcv for the duration (dev_add_pack / dev_remove_pack).
  const ipRcv = net.ptypes.get(ETH_P_IP);
  const handler: PacketHandler = (skb, dev) => {
    try { bootpRecv(net, st, uts, skb, dev); } catch (e) { net.oops('ipconfig receive', e); }
    ipRcv?.(skb, dev);
  };
  net.ptypes.set(ETH_P_IP, handler);
  let line = `Sending ${st.protoEnabled & IC_USE_DHCP ? 'DHCP' : 'BOOTP'} requests .`;
  try {
    const start = net.now();
    let timeout = t.baseTimeoutMs + (net.random32() % Math.max(1, t.randomTimeoutMs));
    let retries = t.sendRetries;
    let i = 0;
    st.gotReply = 0;
    for (;;) {
      if (net.halted) return false;
      const d = st.devs[i]!;
      if (d.able & IC_BOOTP) sendRequest(net, st, uts, d, Math.floor((net.now() - start) / 1e9));
      if (i === st.devs.length - 1) {
        const until = net.now() + timeout * 1e6;
        while (!st.gotReply && net.now() < until && !net.halted) await net.k.clock.waitTimeout(st.replyWait, until);
      }
      if (st.gotReply & IC_BOOTP && st.protoEnabled & IC_USE_DHCP && st.dhcpMsgType !== DHCPACK) {
        // An offer: request it at once on the device it came from.
        st.gotReply = 0;
        i = st.devs.indexOf(st.chosen!);
        line += ',';
        continue;
      }
      if (st.gotReply) { line += ' OK'; break; }
      if (++i < st.devs.length) continue;
      if (!--retries) { line += ' timed out!'; break; }
      i = 0;
      timeout = Math.min(Math.floor((timeout * 7) / 4), t.maxTimeoutMs);
      line += '.';
    }
  } finally {
    if (net.ptypes.get(ETH_P_IP) === handler) {
      if (ipRcv) net.ptypes.set(ETH_P_IP, ipRcv); else net.ptypes.delete(ETH_P_IP);
    }
    pr(KERN_NOTICE, line);
  }
  if (!st.gotReply) { st.myaddr = NONE; return false; }
  pr(KERN_INFO, `IP-Config: Got ${st.protoEnabled & IC_USE_DHCP ? 'DHCP' : 'BOOTP'} answer from ${ipv4ToString(st.addrservaddr)}, my address is ${ipv4ToString(st.myaddr)}`);
  return true;
}

/** A contiguous netmask's prefix length, or -1. */
function maskLen(mask: number): number {
  for (let p = 0; p <= 32; p++) if (inetMakeMask(p) === mask >>> 0) return p;
  return -1;
}

/** ic_defaults */
function defaults(net: NetNamespace, st: IpConfigState, uts: IpConfigUts): boolean {
  if (!st.hostNameSet) uts.nodename = ipv4ToString(st.myaddr);
  if (st.rootServerAddr === NONE) st.rootServerAddr = st.servaddr;
  if (st.netmask === NONE) {
    const a = st.myaddr;
    if (!(a & 0x80000000)) st.netmask = 0xff000000;
    else if ((a & 0xc0000000) >>> 0 === 0x80000000) st.netmask = 0xffff0000;
    else if ((a & 0xe0000000) >>> 0 === 0xc0000000) st.netmask = 0xffffff00;
    else { net.k.printk(KERN_ERR, `IP-Config: Unable to guess netmask for address ${ipv4ToString(a)}`); return false; }
    net.k.printk(KERN_NOTICE, `IP-Config: Guessing netmask ${ipv4ToString(st.netmask)}`);
  }
  return true;
}

/** ic_setup_if and ic_setup_routes: what SIOCSIFADDR/SIOCSIFNETMASK/SIOCSIFBRDADDR and SIOCADDRT do. */
function setupIfAndRoutes(net: NetNamespace, st: IpConfigState): boolean {
  const pr = net.k.printk;
  const dev = st.chosen!.dev;
  const errno = (e: unknown) => -((e as { errno?: number }).errno ?? 22);
  const plen = maskLen(st.netmask);
  if (plen < 0) { pr(KERN_ERR, 'IP-Config: Unable to set interface netmask (-22)'); return false; }
  try {
    for (const a of net.addrsOf(dev)) net.inetAddrDel(dev, a.local, a.prefixLen);
    net.inetAddrAdd(dev, st.myaddr, plen, (st.myaddr | ~st.netmask) >>> 0);
  } catch (e) { pr(KERN_ERR, `IP-Config: Unable to set interface address (${errno(e)})`); return false; }
  if (st.devMtu !== 0) {
    try { net.devSetMtu(dev, st.devMtu); } catch (e) { pr(KERN_ERR, `IP-Config: Unable to set interface mtu to ${st.devMtu} (${errno(e)})`); }
  }
  if (st.gateway !== NONE) {
    if (((st.gateway ^ st.myaddr) & st.netmask) >>> 0) { pr(KERN_ERR, 'IP-Config: Gateway not on directly connected network'); return false; }
    try { net.routeAdd({ dst: 0, prefixLen: 0, gateway: st.gateway, protocol: RTPROT_BOOT }); } catch (e) {
      pr(KERN_ERR, `IP-Config: Cannot add default route (${errno(e)})`);
      return false;
    }
  }
  return true;
}

/** The "IP-Config: Complete:" block. */
function printComplete(net: NetNamespace, st: IpConfigState, uts: IpConfigUts): void {
  const pr = (s: string) => net.k.printk(KERN_INFO, s);
  const a = ipv4ToString;
  const dev = st.chosen!.dev;
  pr('IP-Config: Complete:');
  pr(`     device=${dev.name}, hwaddr=${macToString(dev.mac)}, ipaddr=${a(st.myaddr)}, mask=${a(st.netmask)}, gw=${a(st.gateway)}`);
  pr(`     host=${uts.nodename}, domain=${st.domain}, nis-domain=${uts.domainname}`);
  pr(`     bootserver=${a(st.servaddr)}, rootserver=${a(st.rootServerAddr)}, rootpath=${st.rootPath}${st.devMtu ? `, mtu=${st.devMtu}` : ''}`);
  for (const [list, what] of [[st.nameservers, 'nameserver'], [st.ntpServers, 'ntpserver']] as const) {
    const parts = list.map((x, i) => (x !== NONE ? `${what}${i}=${a(x)}` : '')).filter(Boolean);
    if (parts.length) pr(`     ${parts.join(', ')}`);
  }
}

/**
 * ip_auto_config: configure from what ip= said. Resolves true when an address was configured,
 * false when IP-Config is off or gave up (the boot goes on either way).
 */
export async function ipAutoConfig(net: NetNamespace, uts: IpConfigUts, timings: Partial<IpConfigTimings> = {}): Promise<boolean> {
  const st = ipConfigState(net);
  const t: IpConfigTimings = { ...IPCONFIG_TIMINGS, ...timings };
  if (!st.enable) return false;
  const pr = net.k.printk;
  for (let retries = t.openRetries; ;) {
    if (!await waitForDevices(net, st, t)) return false;
    if (!await openDevs(net, st, t)) return false;
    await sleepMs(net, t.postOpenMs);
    if (st.myaddr === NONE || st.devs.length > 1) {
      if (await dynamic(net, st, uts, t)) break;
      st.chosen = null;
      closeDevs(net, st);
      if (net.halted) return false;
      if (--retries) { pr(KERN_ERR, 'IP-Config: Reopening network devices...'); continue; }
      pr(KERN_ERR, 'IP-Config: Auto-configuration of network failed');
      return false;
    }
    st.chosen = st.devs[0]!;
    break;
  }
  if (!defaults(net, st, uts)) { closeDevs(net, st); return false; }
  st.protoUsed = st.gotReply | (st.protoEnabled & IC_USE_DHCP);
  printComplete(net, st, uts);
  const ok = setupIfAndRoutes(net, st);
  closeDevs(net, st);
  st.done = ok;
  return ok;
}
