/*
 * Which Socket owns which engine endpoint, for /proc/net/{tcp,udp}{,6} (their inode and uid
 * columns) and for telling the IPv4 helper endpoint of a dual-stack AF_INET6 UDP socket from a
 * real AF_INET one. Keyed weakly by the endpoint objects, so each kernel's entries live and die
 * with its sockets.
 */
import type { Socket } from './socket.js';

/** TcpSock / UdpSock / Udp6Sock → the Socket it serves. */
export const sockOfEndpoint = new WeakMap<object, Socket>();

/** Listening and bound TcpSocks by engine (the engine lists only its connections). */
export const tcpAttached = new WeakMap<object, Set<object>>();
