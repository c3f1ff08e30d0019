/*
 * TCP (rank 7): a protocol engine independent of IP. The IP layer feeds it segments with
 * TcpEngine.input() and supplies the output callback; the socket layer drives TcpSock. See
 * README.md in this folder for the contract.
 */
export { TcpEngine, TcpListener, type TcpEngineOptions } from './engine.js';
export { TcpSock, type TcpSendFlags, type TcpRecvFlags } from './sock.js';
export {
  type TcpClock, type TcpOutput, type TcpSysctl, defaultSysctl, tcpStateName,
  TCP_ESTABLISHED, TCP_SYN_SENT, TCP_SYN_RECV, TCP_FIN_WAIT1, TCP_FIN_WAIT2, TCP_TIME_WAIT,
  TCP_CLOSE, TCP_CLOSE_WAIT, TCP_LAST_ACK, TCP_LISTEN, TCP_CLOSING,
  SOL_SOCKET, SOL_TCP, SO_ERROR, SO_SNDBUF, SO_RCVBUF, SO_KEEPALIVE, SO_LINGER, SO_REUSEADDR,
  TCP_NODELAY, TCP_MAXSEG, TCP_CORK, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_SYNCNT,
  TCP_LINGER2, TCP_WINDOW_CLAMP, TCP_QUICKACK, TCP_CONGESTION, TCP_USER_TIMEOUT,
  SHUT_RD, SHUT_WR, SHUT_RDWR,
} from './types.js';
export {
  parseTcp, buildTcp, buildOptions, tcpChecksum, tcpChecksumOk, segLen,
  type TcpSegment, type TcpOptions,
  TCP_FLAG_FIN, TCP_FLAG_SYN, TCP_FLAG_RST, TCP_FLAG_PSH, TCP_FLAG_ACK, TCP_FLAG_URG,
  IPPROTO_TCP,
} from './header.js';
export {
  type CongestionOps, type CongestionState, registerCongestion, makeCongestion, availableCongestion,
  CubicCong, RenoCong,
} from './cong.js';
export { ByteQueue } from './buffer.js';
