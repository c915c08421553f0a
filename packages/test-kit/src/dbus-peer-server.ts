// The server end of a peer-to-peer D-Bus link over a Unix socket, with fd passing: what GDBus does in
// QEMU for a display listener (G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_SERVER), minus GLib. The link
// itself (auth, wire format, calls) is packages/qemu-dbus's PeerLink, the one capture uses too.
import { PeerLink, type WireMessage } from '@qemu-webrtc/qemu-dbus';

export {
  DbusErrorReply,
  DbusLinkClosedError,
  DbusTimeoutError,
  MessageType,
  type OutgoingCall,
} from '@qemu-webrtc/qemu-dbus';

/** A message as it arrived (body in dbus-next's plain JS form: Variants, objects for a{sv}). */
export type PeerMessage = WireMessage;

/**
 * The authenticating server end of a peer-to-peer D-Bus link on a connected Unix socket fd (which it
 * takes over and closes): EXTERNAL auth for our own uid, fd passing, no Hello. Answers Peer.Ping as
 * GDBus does (capture's backlog probe pings QEMU); other calls are 'call' events.
 */
export class DbusPeerServer extends PeerLink {
  constructor(fd: number) {
    super(fd, 'server', { peerName: 'the client', convertVariants: true, answerPing: true });
  }
}
