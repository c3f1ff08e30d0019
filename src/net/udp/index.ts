/*
 * UDP over IPv4 (rank 7): the endpoint engine the socket layer wraps.
 */
export { udpInit, udpState, udpSocket, UdpSock, UdpState, type UdpDatagram } from './udp.js';
